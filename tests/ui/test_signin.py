"""Sign-in with the demo's local accounts, role navigation, sign-out, and refusal of wrong passwords."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from models.db import Database
from models.org import User
from tests.ui.support import APP, console, texts


def test_sign_in_with_password_and_out_again(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = console(demo_url, monkeypatch)
    assert not app.exception
    assert app.title[0].value == "雪亮 · 视频巡查与案件处置"
    app.text_input(key="signin_user").input("reviewer_village")
    app.text_input(key="signin_password").input("wrong")
    app.button[0].click().run()
    assert "用户名或密码不正确" in texts(app)
    assert "username" not in app.session_state
    app.text_input(key="signin_password").input("demo-reviewer_village")
    app.button[0].click().run()
    assert not app.exception
    assert app.session_state["username"] == "reviewer_village"
    assert app.title[0].value == "审核队列"
    app.sidebar.button(key="sign_out").click().run()
    assert "username" not in app.session_state
    assert app.title[0].value == "雪亮 · 视频巡查与案件处置"


@pytest.mark.parametrize(
    ("username", "first_page_zh", "first_page_en"),
    [
        ("inspector", "视频巡查", "Video patrol"),
        ("reviewer_township", "审核队列", "Review queue"),
        ("dispatcher", "派遣看板", "Dispatch board"),
        ("leader", "统计分析", "Statistics"),
        ("admin", "行政区划与责任单位", "Units"),
    ],
)
def test_each_role_lands_on_its_first_page(
    demo_url: str, monkeypatch: pytest.MonkeyPatch, username: str, first_page_zh: str, first_page_en: str
) -> None:
    app = console(demo_url, monkeypatch, username)
    assert not app.exception
    assert app.title[0].value == first_page_zh
    app.sidebar.radio(key="lang").set_value("en").run()
    assert app.title[0].value == first_page_en


def test_a_disabled_account_is_signed_out_at_the_next_click(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = console(demo_url, monkeypatch, "reviewer_village")
    assert app.title[0].value == "审核队列"
    db = Database(demo_url)
    with db.write() as session:
        session.query(User).filter_by(username="reviewer_village").update({"active": False})
    db.dispose()
    app.run()
    assert "username" not in app.session_state
    assert app.title[0].value == "雪亮 · 视频巡查与案件处置"


def test_a_role_cannot_open_another_roles_page(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Navigation registers only the role's pages; any other page (by URL too) is not there to open."""
    app = console(demo_url, monkeypatch, "dispatcher")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("screens/admin_users.py")
    admin = console(demo_url, monkeypatch, "admin")
    assert admin.switch_page("screens/admin_users.py").run().title[0].value == "用户与角色"


def oidc_console(demo_url: str, monkeypatch: pytest.MonkeyPatch, email: str | None) -> Any:
    """The console with an identity provider configured ([auth] in the secrets) and, when `email` is given,
    a user the provider has signed in (st.user), as AppTest simulates them."""
    monkeypatch.setenv("XUELIANG_DATABASE_URL", demo_url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.secrets["auth"] = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "a-test-cookie-secret",
        "client_id": "xueliang",
        "client_secret": "test",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
    app.user = {"is_logged_in": email is not None, **({"email": email} if email else {})}
    return app.run()


def test_oidc_sign_in_maps_the_verified_email_to_an_account(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(demo_url)
    with db.write() as session:
        session.query(User).filter_by(username="leader").update({"email": "leader@linyi.example"})
    db.dispose()
    signed_out = oidc_console(demo_url, monkeypatch, None)
    assert not signed_out.exception
    assert signed_out.button(key="oidc").label == "使用统一身份认证登录"
    known = oidc_console(demo_url, monkeypatch, "Leader@Linyi.example")
    assert not known.exception
    assert known.session_state["username"] == "leader"
    assert known.title[0].value == "统计分析"
    stranger = oidc_console(demo_url, monkeypatch, "someone@elsewhere.example")
    assert "username" not in stranger.session_state
    assert "someone@elsewhere.example 尚未开通雪亮账号" in texts(stranger)
