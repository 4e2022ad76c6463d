"""Streamlit console entry (`xueliang ui`): sign-in, then the pages of the signed-in user's role.

Pages live in ui/screens/; each acts through models/ commands (the same the CLI and flows use) and reads
through models/ views limited by models.scope.
"""

from __future__ import annotations

import streamlit as st

from ui.i18n import LANGS, tr
from ui.session import current_viewer, show_flash, sign_out

st.set_page_config(page_title="雪亮 Xueliang", page_icon="👁️", layout="wide")
st.sidebar.radio(
    "语言 / Language", LANGS, key="lang", horizontal=True, format_func=lambda v: "中文" if v == "zh" else "English"
)


def page(file: str, zh: str, en: str, icon: str, default: bool = False) -> st.Page:
    return st.Page(f"screens/{file}.py", title=tr(zh, en), icon=icon, url_path=file, default=default)


def case_page(default: bool = False) -> st.Page:
    return page("case", "案卷详情", "Case detail", ":material/description:", default)


def pages_for(role: str) -> dict[str, list[st.Page]]:
    """Each role's work, first page first. A page not listed here cannot be opened by that role by URL."""
    dashboard = page("dashboard", "统计分析", "Statistics", ":material/monitoring:", role == "leader")
    outbox = page("outbox", "短信发件箱", "SMS outbox", ":material/sms:")
    if role == "inspector":
        work = [
            page("patrol", "视频巡查", "Video patrol", ":material/videocam:", True),
            page("verify", "整改核查", "Verify fix-ups", ":material/fact_check:"),
            case_page(),
        ]
    elif role == "reviewer":
        work = [
            page("queue", "审核队列", "Review queue", ":material/inbox:", True),
            case_page(),
            dashboard,
            page("imports", "热线工单导入", "Hotline import", ":material/upload_file:"),
        ]
    elif role == "dispatcher":
        work = [page("board", "派遣看板", "Dispatch board", ":material/assignment:", True), case_page(), outbox]
    elif role == "leader":
        work = [dashboard, case_page()]
    else:
        work = [
            page("admin_units", "行政区划与责任单位", "Units", ":material/account_tree:", True),
            page("admin_cameras", "摄像机", "Cameras", ":material/videocam:"),
            page("admin_categories", "问题类别", "Categories", ":material/category:"),
            page("admin_rules", "分拨规则", "Routing rules", ":material/alt_route:"),
            page("admin_users", "用户与角色", "Users and roles", ":material/group:"),
            page("imports", "热线工单导入", "Hotline import", ":material/upload_file:"),
            dashboard,
            outbox,
            case_page(),
        ]
    return {tr("工作", "Work"): work}


viewer = current_viewer()
if viewer is None:
    navigation = st.navigation([page("signin", "登录", "Sign in", ":material/login:", True)], position="hidden")
else:
    role_names = {
        "inspector": tr("文明办巡查员", "inspector"),
        "reviewer": tr("审核员", "reviewer"),
        "dispatcher": tr("责任单位处置员", "dispatcher"),
        "leader": tr("领导", "leader"),
        "admin": tr("系统管理员", "administrator"),
    }
    st.sidebar.markdown(f"**{viewer.display_name}** · {role_names.get(viewer.role, viewer.role)}")
    if viewer.unit_name:
        st.sidebar.caption(viewer.unit_name)
    if st.sidebar.button(tr("退出登录", "Sign out"), key="sign_out"):
        sign_out()
        st.rerun()
    navigation = st.navigation(pages_for(viewer.role))
show_flash()
navigation.run()
