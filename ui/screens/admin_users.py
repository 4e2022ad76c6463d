"""Users and roles (用户与角色)."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import require

require()
st.title(tr("用户与角色", "Users and roles"))
