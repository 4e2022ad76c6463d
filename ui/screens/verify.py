"""Verify fix-ups (整改核查)."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import require

require()
st.title(tr("整改核查", "Verify fix-ups"))
