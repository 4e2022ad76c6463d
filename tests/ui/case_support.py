"""Cases for the queue and case-page tests, made through the same commands the product uses."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from models.cases import Case, CaseEvent, Source
from models.commands import ActParams, act, create_case, get_case, get_category, get_user
from models.db import Database, utcnow
from models.intake import process_batch, record_signal

ADVERTS = "E0201"  # 非法小广告: starts at village tier in the demo's routing rules


def new_case(
    url: str,
    place_of: str = "reviewer_village",
    *,
    code: str = ADVERTS,
    hours_ago: float = 0.0,
    tier: str | None = None,
    source: Source = Source.CITIZEN,
    description: str = "电线杆上贴满小广告",
) -> str:
    """A case opened `hours_ago` at the village (or township) of user `place_of`; its number."""
    db = Database(url)
    try:
        with db.write() as session:
            case = create_case(
                session,
                source=source,
                category=get_category(session, code),
                place=get_user(session, place_of).admin_unit,
                description=description,
                actor="citizen:test",
                tier=tier,
                now=utcnow() - timedelta(hours=hours_ago),
            )
            return case.number
    finally:
        db.dispose()


def perform_as(url: str, number: str, action: str, username: str, **params: Any) -> None:
    """`username` acts on the case outside the console (another person, another window)."""
    db = Database(url)
    try:
        with db.write() as session:
            act(session, number, action, username, ActParams(**params))
    finally:
        db.dispose()


def stored(url: str, number: str) -> dict[str, Any]:
    """The case's columns the tests look at, with its history as (action, actor, note)."""
    db = Database(url)
    try:
        with db.read() as session:
            case: Case = get_case(session, number)
            return {
                "state": case.state,
                "tier": case.tier,
                "version": case.version,
                "registered": case.registered_at is not None,
                "unit": case.responsible_unit.code if case.responsible_unit else None,
                "rectify_due": case.rectify_due,
                "extension": case.extension_requested_until,
                "merged_into": case.merged_into.number if case.merged_into else None,
                "reporters": case.reporter_count,
                "events": session.scalar(
                    select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)
                ),
                "history": [(e.action, e.actor, e.note) for e in case.events],
            }
    finally:
        db.dispose()


def in_days(days: int) -> datetime:
    return utcnow() + timedelta(days=days)


def citizen_reports(url: str, place_of: str, reporters: list[dict[str, Any]], at: datetime) -> list[str]:
    """One web-form report per reporter, a minute apart, at the centre of `place_of`'s unit, put through
    intake; the numbers of the cases opened (the reports after the first join it as duplicates)."""
    db = Database(url)
    try:
        with db.write() as session:
            place = get_user(session, place_of).admin_unit
            for index, reporter in enumerate(reporters):
                record_signal(
                    session,
                    source="form",
                    type_="report",
                    state="report",
                    camera_ref=None,
                    device_time=at + timedelta(minutes=index),
                    time_flagged=False,
                    external_id=f"form-{index}",
                    fields={"category": ADVERTS, "lat": place.lat, "lon": place.lon, "reporter": reporter},
                    raw=b"{}",
                    content_type="application/json",
                )
        with db.write() as session:
            return process_batch(session, now=at + timedelta(minutes=len(reporters))).cases
    finally:
        db.dispose()
