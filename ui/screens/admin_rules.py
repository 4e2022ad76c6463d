"""Routing rules (分拨规则)."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import require

require()
st.title(tr("分拨规则", "Routing rules"))
