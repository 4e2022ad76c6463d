"""How long the console takes to draw a page for a new session: used by `xueliang bench stats` (Streamlit is
imported only under ui/, so the measurement lives here)."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent / "app.py")


def render_seconds(username: str) -> float:
    """Seconds for ui/app.py to render `username`'s first page in a new session, with no figure cached yet (the
    pages cache figures for a minute). The database is the one XUELIANG_DATABASE_URL names."""
    st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["username"] = username
    started = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(f"the page failed: {app.exception[0].message}")
    if not app.metric:
        raise RuntimeError("the page rendered no figures")
    return seconds
