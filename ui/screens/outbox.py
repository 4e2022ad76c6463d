"""SMS outbox (短信发件箱)."""

from __future__ import annotations

import streamlit as st

from ui.i18n import tr
from ui.session import require

require()
st.title(tr("短信发件箱", "SMS outbox"))
