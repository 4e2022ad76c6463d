"""Units (行政区划与责任单位)."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import require

require()
st.title(tr("行政区划与责任单位", "Units"))
