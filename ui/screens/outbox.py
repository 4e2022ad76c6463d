"""SMS outbox (短信发件箱): the notices the SMS provider has been given. With the embedded default (`outbox`) this
is where the messages are, since nothing leaves the machine; with Twilio the same list carries Twilio's message
SIDs and delivery statuses. A dispatcher sees their own unit's messages, an admin all."""

from __future__ import annotations

from collections import Counter

import streamlit as st

from models.notices import dispatch_board
from models.org import Role
from ui.i18n import tr
from ui.notices import notice_frame, status_text
from ui.session import database, require, settings

LIMIT = 500

viewer = require("dispatcher", "admin")
st.title(tr("短信发件箱", "SMS outbox"))
twilio = settings().sms_provider == "twilio"
if twilio:
    st.info(
        tr(
            "短信服务商为 Twilio：短信已交 Twilio 发送，下表为各条通知的 Twilio SID 与送达状态。",
            "SMS goes through Twilio: the list shows each notice's Twilio SID and delivery status.",
        )
    )
else:
    st.caption(
        tr(
            "内置发件箱：短信不离开本机，保存在数据库中，即下表所列。",
            "Embedded outbox: messages stay on this machine, in the database, as listed here.",
        )
    )
number = st.text_input(tr("按案卷编号筛选", "Filter by case number"), key="outbox_case").strip().upper() or None
if viewer.role == Role.DISPATCHER.value and viewer.responsible_unit_id is None:
    rows = []
else:
    unit = None if viewer.role == Role.ADMIN.value else viewer.responsible_unit_id
    with database().read() as session:
        rows = dispatch_board(session, case_number=number, unit_id=unit, limit=LIMIT)
if not rows:
    st.info(tr("没有短信", "No messages"))
else:
    tally = Counter(status_text(row) for row in rows)
    st.caption(" · ".join(f"{status} {count}" for status, count in tally.most_common()))
    st.dataframe(notice_frame(rows, text=True, sid=twilio), hide_index=True, key="outbox_table")
    if len(rows) == LIMIT:
        st.caption(tr(f"仅显示最近 {LIMIT} 条", f"the latest {LIMIT} shown"))
