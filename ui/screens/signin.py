"""Sign-in: a local account, or the organisation's identity provider when one is configured."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import oidc_configured, sign_in

st.title(tr("雪亮 · 视频巡查与案件处置", "Xueliang · video patrol and case handling"))
with st.form("signin"):
    username = st.text_input(tr("用户名", "Username"), key="signin_user")
    password = st.text_input(tr("密码", "Password"), type="password", key="signin_password")
    submitted = st.form_submit_button(tr("登录", "Sign in"), type="primary")
if submitted:
    if sign_in(username, password) is None:
        st.error(tr("用户名或密码不正确，或账号已停用", "Wrong username or password, or the account is disabled"))
    else:
        st.rerun()
if oidc_configured():
    st.divider()
    if st.button(tr("使用统一身份认证登录", "Sign in with the organisation's account"), key="oidc"):
        st.login()
    if st.user.is_logged_in:
        st.error(
            tr(
                f"{st.user.get('email')} 尚未开通雪亮账号，请联系管理员",
                f"{st.user.get('email')} has no Xueliang account yet; ask an administrator",
            )
        )
