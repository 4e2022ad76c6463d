"""Dispatch board (派遣看板)."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import require

require()
st.title(tr("派遣看板", "Dispatch board"))
