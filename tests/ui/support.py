"""Shared helpers of the console tests: an AppTest of ui/app.py against a given database, signed in or not."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "ui" / "app.py")


def console(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    username: str | None = None,
    page: str | None = None,
    lang: str = "zh",
    query: dict[str, str] | None = None,
    media_dir: str | None = None,
) -> AppTest:
    """The console on `db_url`, with `username` signed in (server-side session state, as after the sign-in
    form) on `page` (a ui/screens/ file name without .py), already run once."""
    monkeypatch.setenv("XUELIANG_DATABASE_URL", db_url)
    if media_dir is not None:
        monkeypatch.setenv("XUELIANG_MEDIA_DIR", media_dir)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["lang"] = lang
    if username is not None:
        app.session_state["username"] = username
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    if page is not None:
        app.switch_page(f"screens/{page}.py").run()
    return app


def texts(app: AppTest) -> str:
    """Everything the page wrote as text (titles, markdown, captions, messages), one string to search in."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error", "text"):
        parts += [str(element.value) for element in getattr(app, kind)]
    return "\n".join(parts)
