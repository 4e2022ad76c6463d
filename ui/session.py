"""Who is signed in, the shared database and storage handles, and the one way pages perform a command.

Sign-in is by local account (argon2 hash) or, when `[auth]` is configured in .streamlit/secrets.toml, by OIDC
through st.login: the provider's verified e-mail must belong to an active account (User.email). The signed-in
username lives in the server-side session state; the account is re-read on every run, so a disabled account
or a changed role takes effect at the next click.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.secrets import verify_password
from integrations.storage import Storage
from models.db import Database
from models.errors import DomainError
from models.org import User
from models.settings import Settings
from ui.i18n import error_text, tr

T = TypeVar("T")
USER_KEY = "username"


@st.cache_resource
def _database(url: str) -> Database:
    return Database(url)


@st.cache_resource
def _storage(media_dir: str) -> Storage:
    return Storage(media_dir)


def settings() -> Settings:
    return Settings.load()


def database() -> Database:
    return _database(settings().database_url)


def storage() -> Storage:
    return _storage(settings().media_dir)


@dataclass(frozen=True)
class Viewer:
    """The signed-in account, detached from any session: what pages need to decide what to show."""

    username: str
    display_name: str
    role: str
    unit_code: str | None
    unit_name: str | None
    unit_path: str | None
    tier: str | None
    responsible_unit_id: int | None
    responsible_unit_name: str | None

    @classmethod
    def of(cls, user: User) -> Viewer:
        area = user.admin_unit
        return cls(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            unit_code=user.unit_code,
            unit_name=user.responsible_unit.name if user.responsible_unit else (area.name if area else None),
            unit_path=area.path if area else None,
            tier=area.tier.value if area else None,
            responsible_unit_id=user.responsible_unit_id,
            responsible_unit_name=user.responsible_unit.name if user.responsible_unit else None,
        )


def _load(session: Session, **where: str) -> User | None:
    stmt = select(User)
    for column, value in where.items():
        stmt = stmt.where(getattr(User, column) == value)
    user = session.execute(stmt).scalar_one_or_none()
    return user if user is not None and user.active else None


def sign_in(username: str, password: str) -> Viewer | None:
    """Check a local account's password; remember the user in this browser session when it matches."""
    with database().read() as session:
        user = _load(session, username=username.strip())
        if user is None or not verify_password(user.password_hash, password):
            return None
        viewer = Viewer.of(user)
    st.session_state[USER_KEY] = viewer.username
    return viewer


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return False


def _oidc_email() -> str | None:
    if not oidc_configured():
        return None
    try:
        if not st.user.is_logged_in:
            return None
    except (AttributeError, KeyError):
        return None
    email = st.user.get("email")
    return str(email).strip().lower() if email else None


def current_viewer() -> Viewer | None:
    """The signed-in account, re-read from the database, or None."""
    username = st.session_state.get(USER_KEY)
    email = None if username else _oidc_email()
    if not username and not email:
        return None
    with database().read() as session:
        user = _load(session, username=username) if username else _load(session, email=email)  # type: ignore[arg-type]
        if user is None:
            st.session_state.pop(USER_KEY, None)
            return None
        viewer = Viewer.of(user)
    st.session_state[USER_KEY] = viewer.username
    return viewer


def sign_out() -> None:
    st.session_state.pop(USER_KEY, None)
    if _oidc_email() is not None:
        st.logout()


def require(*roles: str) -> Viewer:
    """The signed-in viewer if their role is one of `roles`; otherwise a message and the page stops. Navigation
    already offers each role only its pages; this guards a page reached any other way."""
    viewer = current_viewer()
    if viewer is None:
        st.warning(tr("请先登录", "Please sign in first"))
        st.stop()
    assert viewer is not None
    if roles and viewer.role not in roles:
        st.error(tr("您的角色无权访问此页面", "Your role cannot open this page"))
        st.stop()
    return viewer


def perform(command: Callable[[Session], T], success: str | None = None) -> T | None:
    """Run one command in one write transaction, as the CLI does; show its refusal (in the viewer's language)
    instead of raising. Returns the command's result, or None when it was refused and nothing was written."""
    try:
        with database().write() as session:
            result = command(session)
    except DomainError as error:
        st.session_state["_flash"] = ("error", error_text(error))
        return None
    if success:
        st.session_state["_flash"] = ("success", success)
    return result


def show_flash() -> None:
    """Show the outcome of the last command once (it survives the rerun a command usually triggers)."""
    flash = st.session_state.pop("_flash", None)
    if flash is None:
        return
    kind, text = flash
    (st.error if kind == "error" else st.success)(text)
