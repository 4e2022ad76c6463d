"""Plain-dict views of domain objects: the JSON shapes promised in CONTRACT.md, shared by CLI, HTTP and console."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.cases import Case, CaseEvent, Evidence, Signal
from models.org import AdminUnit, Camera, User
from models.taxonomy import Category


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def unit_view(unit: AdminUnit, parent_code: str | None) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "name_en": unit.name_en,
        "level": unit.level,
        "parent": parent_code,
        "tier": unit.tier.value,
        "lat": unit.lat,
        "lon": unit.lon,
    }


def units_view(session: Session) -> list[dict[str, Any]]:
    units = session.execute(select(AdminUnit).order_by(AdminUnit.path)).scalars().all()
    codes = {u.id: u.code for u in units}
    return [unit_view(u, codes.get(u.parent_id) if u.parent_id else None) for u in units]


def category_view(category: Category) -> dict[str, Any]:
    return {
        "code": category.code,
        "name": category.name,
        "name_en": category.name_en,
        "kind": category.kind,
        "major_code": category.major_code,
        "major_name": category.major_name,
        "minor_code": category.minor_code,
    }


def user_view(user: User) -> dict[str, Any]:
    return {"username": user.username, "name": user.display_name, "role": user.role, "unit": user.unit_code}


def camera_view(camera: Camera) -> dict[str, Any]:
    return {
        "id": camera.id,
        "external_id": camera.external_id,
        "name": camera.name,
        "vendor": camera.vendor,
        "kind": camera.kind,
        "unit": camera.unit.code,
        "lat": camera.lat,
        "lon": camera.lon,
    }


def event_view(event: CaseEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "version": event.version,
        "action": event.action,
        "actor": event.actor,
        "at": iso(event.at),
        "note": event.note,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "from_tier": event.from_tier,
        "to_tier": event.to_tier,
        "data": event.data,
        "hash": event.hash,
    }


def evidence_view(item: Evidence) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "status": item.status,
        # only the redacted copy leaves the review centre; originals are for roles allowed to see them
        "uri": item.redacted_uri,
        "redacted": item.redacted_uri is not None,
        "sha256": item.sha256,
        "size": item.size,
        "source": item.source,
        "captured_at": iso(item.captured_at),
        "face_count": item.face_count,
        "error": item.error,
    }


def case_view(case: Case, detail: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "number": case.number,
        "state": case.state,
        "tier": case.tier,
        "version": case.version,
        "source": case.source,
        "category": case.category.code,
        "category_name": case.category.name,
        "unit": case.unit.code,
        "unit_name": case.unit.name,
        "responsible_unit": case.responsible_unit.code if case.responsible_unit else None,
        "description": case.description,
        "lat": case.lat,
        "lon": case.lon,
        "camera": case.camera_id,
        "registered_at": iso(case.registered_at),
        "review_due": iso(case.review_due),
        "ack_due": iso(case.ack_due),
        "rectify_due": iso(case.rectify_due),
        "extension_requested_until": iso(case.extension_requested_until),
        "supervised": case.supervised,
        "overdue": case.overdue,
        "rework_count": case.rework_count,
        "reporter_count": case.reporter_count,
        "merged_into": case.merged_into.number if case.merged_into else None,
        "created_at": iso(case.created_at),
        "closed_at": iso(case.closed_at),
        "routing_rule": (
            {"key": case.routing_rule.key, "version": case.routing_rule.version} if case.routing_rule else None
        ),
    }
    if detail:
        view["history"] = [event_view(e) for e in case.events]
        view["evidence"] = [evidence_view(e) for e in case.evidence]
    return view


def signal_view(signal: Signal, case_number: str | None) -> dict[str, Any]:
    return {
        "id": signal.id,
        "source": signal.source,
        "type": signal.type,
        "state": signal.state,
        "camera": signal.camera_id,
        "camera_ref": signal.camera_ref,
        "time": iso(signal.time),
        "time_flagged": signal.time_flagged,
        "received_at": iso(signal.received_at),
        "status": signal.status,
        "case": case_number,
        "suppressed_by": signal.suppressed_by,
        "fields": {k: v for k, v in signal.fields.items() if k != "reporter"},
    }


def signals_view(session: Session, source: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    stmt = select(Signal, Case.number).outerjoin(Case, Case.id == Signal.case_id).order_by(Signal.id.desc())
    if source:
        stmt = stmt.where(Signal.source == source)
    return [signal_view(signal, number) for signal, number in session.execute(stmt.limit(limit))]
