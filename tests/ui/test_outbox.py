"""SMS outbox page: what the dispatch flow handed to the embedded outbox provider appears (recipient masked, text,
segments, status), to the unit's dispatcher and to admins but not to another unit; filtered by case number; with
Twilio configured the page says so and shows the SIDs."""

from __future__ import annotations

import pytest

from flows.dispatch import dispatch_notices
from models.db import Database
from models.notices import segments
from models.settings import Settings
from tests.conftest import TEST_SECRET
from tests.sms_support import contacts, dispatched, notices
from tests.ui.support import console, texts

SETTINGS = Settings.load(environ={"XUELIANG_SECRET_KEY": TEST_SECRET})


def test_a_dispatched_notice_appears_in_the_outbox_masked(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(demo_url)
    number = dispatched(db, "人行道乱堆建筑垃圾", settings=SETTINGS)
    assert dispatch_notices(db, SETTINGS, number)
    [notice] = notices(db, number)
    phones = [c.phone for c in contacts(db)]
    db.dispose()

    app = console(demo_url, monkeypatch, "dispatcher", "outbox")
    assert not app.exception
    assert app.title[0].value == "短信发件箱" and "内置发件箱" in texts(app)
    [row] = app.dataframe[0].value.to_dict("records")
    assert row["案卷"] == number and row["内容"] == notice.body and row["状态"] == "已存入发件箱"
    assert row["条数"] == segments(notice.body) and "Twilio SID" not in row
    assert row["收件人"].startswith("兰山街道办事处值班室 +86 1") and "****" in row["收件人"]
    shown = texts(app) + str(app.dataframe[0].value.to_dict())
    assert not any(phone[3:] in shown or phone[-8:] in shown for phone in phones)

    app.text_input(key="outbox_case").input("LY-19990101-0001").run()
    assert not app.dataframe and "没有短信" in texts(app)
    app.text_input(key="outbox_case").input(number.lower()).run()
    assert app.dataframe[0].value["案卷"].tolist() == [number]

    admin = console(demo_url, monkeypatch, "admin", "outbox")
    assert admin.dataframe[0].value["案卷"].tolist() == [number]
    other_unit = console(demo_url, monkeypatch, "dispatcher_village", "outbox")
    assert not other_unit.dataframe and "没有短信" in texts(other_unit)


def test_with_twilio_the_page_says_so_and_shows_the_sids(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(demo_url)
    number = dispatched(db, settings=SETTINGS)
    dispatch_notices(db, SETTINGS, number)
    [notice] = notices(db, number)
    db.dispose()
    monkeypatch.setenv("XUELIANG_SMS_PROVIDER", "twilio")
    app = console(demo_url, monkeypatch, "dispatcher", "outbox", lang="en")
    assert "SMS goes through Twilio" in texts(app)
    [row] = app.dataframe[0].value.to_dict("records")
    assert (row["Case"], row["Twilio SID"], row["Status"]) == (number, notice.provider_sid, "stored")
