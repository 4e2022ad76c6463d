"""Hotline import (热线工单导入)."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import require

require()
st.title(tr("热线工单导入", "Hotline import"))
