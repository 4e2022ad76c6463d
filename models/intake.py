"""From inbound items to cases: signals are recorded losslessly and idempotently, then processed in batches
(suppress · correlate · dedupe · route) into cases. Every signal ends in a case or a named suppression.

Recording is what the gateway does before it answers 2xx; processing is what the intake flow and the worker's
low-latency loop do. Processing a batch is one transaction: a crash rolls the whole batch back and the same
signals are processed again on restart, so no case is created twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session, defer, joinedload

from models.cases import OPEN_STATES, Case, Signal, Source
from models.commands import NewCase, create_case, create_cases, record_event
from models.db import insert_ignoring_duplicates, utcnow
from models.errors import DomainError
from models.org import AdminUnit, Camera
from models.routing import haversine_m, locate
from models.taxonomy import Category, SuppressionRule

# Normalized camera event type -> problem category (models/seed_data.py codes). Types that report a state of
# the world rather than a problem (a plate read, a face seen) are informational and make no case.
ALARM_CATEGORY: dict[str, str] = {
    "intrusion": "E0601",
    "region_entrance": "E0601",
    "region_exit": "E0601",
    "pir": "E0601",
    "alarm_input": "E0601",
    "object": "E0601",
    "line_crossing": "E0602",
    "loitering": "E0603",
    "crowd": "E0604",
    "motion": "E0605",
    "fire": "E0606",
    "traffic_accident": "E0607",
    "congestion": "E0608",
    "wrong_way": "E0609",
    "illegal_parking": "E0610",
    "tamper": "C0601",
    "video_loss": "C0601",
}
INFORMATIONAL = frozenset({"plate", "face"})
CAMERA_SOURCES = frozenset({"hikvision", "dahua", "gb28181", "frigate", "generic"})
CITIZEN_SOURCES = frozenset({"open311", "hotline", "form"})
# Kept as signals for audit but settled where they arrive (SMS replies move cases themselves).
SKIPPED_SOURCES = frozenset({"sms"})
DEFAULT_CORRELATION = timedelta(minutes=30)
DEFAULT_DUPLICATE_RADIUS_M = 50.0

TYPE_NAMES: dict[str, str] = {
    "intrusion": "区域入侵",
    "region_entrance": "进入区域",
    "region_exit": "离开区域",
    "pir": "人体感应",
    "alarm_input": "报警输入",
    "object": "目标检测",
    "line_crossing": "越界",
    "loitering": "徘徊",
    "crowd": "人员聚集",
    "motion": "移动侦测",
    "fire": "烟火",
    "traffic_accident": "交通事故",
    "congestion": "交通拥堵",
    "wrong_way": "逆行",
    "illegal_parking": "违法停车",
    "tamper": "视频遮挡",
    "video_loss": "视频丢失",
}


UNTIMED_BUCKET = timedelta(seconds=60)


def idempotency_keys(
    source: str,
    camera_ref: str | None,
    type_: str,
    state: str,
    device_time: datetime | None,
    external_id: str | None,
    fields: dict[str, Any],
    received_at: datetime,
) -> list[str]:
    """The keys under which this alarm may already be known, its own first.

    The same alarm delivered twice has the same key: its identity is what the device said, not when it
    arrived; devices that send their own event id are keyed by it. An alarm with neither an id nor a time
    (some Dahua events) can only be told apart by arrival: it is keyed by its minute of arrival, and a copy
    arriving in the next minute is recognised through the previous minute's key.
    """

    def key(basis: Any) -> str:
        text = json.dumps(basis, sort_keys=True, default=str, ensure_ascii=False)
        return f"{source}:{hashlib.sha256(text.encode()).hexdigest()[:40]}"

    if external_id:
        # Device event ids are sequence numbers that wrap and restart after a reboot (GB/T 28181 SN): the
        # device's time belongs to the identity too.
        return [key([source, camera_ref, external_id, state, device_time.isoformat() if device_time else None])]
    if device_time is not None:
        return [key([source, camera_ref, type_, state, device_time.isoformat(), fields])]
    epoch = datetime(2000, 1, 1, tzinfo=received_at.tzinfo)
    bucket = (received_at - epoch) // UNTIMED_BUCKET
    return [key([source, camera_ref, type_, state, "arrival", b, fields]) for b in (bucket, bucket - 1)]


@dataclass(frozen=True)
class Recorded:
    id: int
    duplicate: bool


def find_camera(session: Session, source: str, camera_ref: str | None, source_id: int | None) -> Camera | None:
    """The registered camera a device names, within the authenticated source when there is one."""
    if not camera_ref:
        return None
    stmt = select(Camera)
    if source == "gb28181":
        stmt = stmt.where(Camera.gb_device_id == camera_ref)
    elif source == "generic":
        conditions = [Camera.external_id == camera_ref]
        if camera_ref.isdigit():
            conditions.append(Camera.id == int(camera_ref))
        stmt = stmt.where(or_(*conditions))
    else:
        stmt = stmt.where(Camera.vendor == source, Camera.external_id == camera_ref)
    if source_id is not None:
        stmt = stmt.where(Camera.source_id == source_id)
    return session.execute(stmt.limit(1)).scalars().first()


class CameraIndex:
    """Remembers which registered camera a device reference names, for a process that records many alarms
    (the gateway). Entries expire, so a camera registered or moved is seen within `ttl` seconds."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._known: dict[tuple[str, str | None, int | None], tuple[int | None, float]] = {}

    def camera_id(self, session: Session, source: str, camera_ref: str | None, source_id: int | None) -> int | None:
        key = (source, camera_ref, source_id)
        hit = self._known.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self.ttl:
            return hit[0]
        camera = find_camera(session, source, camera_ref, source_id)
        if len(self._known) > 100_000:
            self._known.clear()
        self._known[key] = (camera.id if camera else None, now)
        return self._known[key][0]


@dataclass(frozen=True)
class SignalIn:
    """One inbound item to record (see record_signals)."""

    source: str
    type_: str
    state: str
    camera_ref: str | None
    device_time: datetime | None
    time_flagged: bool
    external_id: str | None
    fields: dict[str, Any]
    raw: bytes
    content_type: str | None
    received_at: datetime | None = None
    source_id: int | None = None
    key: str | None = None


def record_signals(session: Session, items: list[SignalIn], cameras: CameraIndex | None = None) -> list[Recorded]:
    """Insert each signal unless its idempotency key is known (already stored, or earlier in `items`); say which,
    in order. Unknown cameras are kept and flagged. Three statements however many items: look up the known
    keys, insert the new rows, and (only after a concurrent insert won a race) look up the winners."""
    cameras = cameras or CameraIndex(ttl=0)
    now = utcnow()
    keyed = []
    for item in items:
        received_at = item.received_at or now
        keys = (
            [item.key]
            if item.key
            else idempotency_keys(
                item.source,
                item.camera_ref,
                item.type_,
                item.state,
                item.device_time,
                item.external_id,
                item.fields,
                received_at,
            )
        )
        keyed.append((item, received_at, keys))
    all_keys = {k for _, _, keys in keyed for k in keys}
    known = dict(
        session.execute(select(Signal.idempotency_key, Signal.id).where(Signal.idempotency_key.in_(all_keys))).all()
    )
    rows: dict[str, dict[str, Any]] = {}
    for item, received_at, keys in keyed:
        if any(k in known for k in keys) or keys[0] in rows:
            continue
        camera_id = None
        if item.source in CAMERA_SOURCES:
            camera_id = cameras.camera_id(session, item.source, item.camera_ref, item.source_id)
        stored = dict(item.fields)
        if item.source in CAMERA_SOURCES and camera_id is None:
            stored["unknown_camera"] = True
        if item.external_id:
            stored.setdefault("external_id", item.external_id)
        rows[keys[0]] = {
            "idempotency_key": keys[0],
            "source": item.source,
            "type": item.type_[:48],
            "state": item.state,
            "camera_id": camera_id,
            "camera_ref": (item.camera_ref or "")[:120] or None,
            "time": item.device_time or received_at,
            "time_flagged": bool(item.time_flagged or item.device_time is None),
            "received_at": received_at,
            "content_type": (item.content_type or "")[:120] or None,
            "raw": item.raw,
            "fields": stored,
            "status": "new",
        }
    inserted: dict[str, int] = {}
    if rows:
        table = Signal.__table__
        connection = session.connection()
        batch = list(rows.values())
        for start in range(0, len(batch), 200):  # multi-row INSERTs: one round trip per 200 signals
            stmt = (
                insert_ignoring_duplicates(session, table)
                .values(batch[start : start + 200])
                .returning(table.c.idempotency_key, table.c.id)
            )
            inserted.update(connection.execute(stmt).all())
        lost = [k for k in rows if k not in inserted]
        if lost:
            known.update(
                session.execute(select(Signal.idempotency_key, Signal.id).where(Signal.idempotency_key.in_(lost))).all()
            )
    answers = []
    claimed: set[str] = set()
    for _, _, keys in keyed:
        own = keys[0]
        if own in inserted and own not in claimed:
            claimed.add(own)
            answers.append(Recorded(inserted[own], False))
        else:
            signal_id = next((known[k] for k in keys if k in known), None) or inserted[own]
            answers.append(Recorded(signal_id, True))
    return answers


def record_signal(session: Session, *, cameras: CameraIndex | None = None, **fields: Any) -> Recorded:
    """One signal; see record_signals."""
    return record_signals(session, [SignalIn(**fields)], cameras)[0]


# ------------------------------------------------------------------------------------------------ processing


@dataclass
class IntakeReport:
    processed: int = 0
    cases: list[str] = field(default_factory=list)
    attached: int = 0
    linked: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)

    # signal id -> (status, case id, suppressed by): written for the whole batch in one statement
    outcomes: dict[int, tuple[str, int | None, str | None]] = field(default_factory=dict)

    def settle(self, signal: Signal, status: str, case_id: int | None = None) -> None:
        self.outcomes[signal.id] = (status, case_id, None)

    def suppress(self, signal: Signal, reason: str) -> None:
        self.outcomes[signal.id] = ("suppressed", None, reason[:120])
        key = reason.split(":")[0]
        self.suppressed[key] = self.suppressed.get(key, 0) + 1

    def merge(self, other: IntakeReport) -> None:
        self.processed += other.processed
        self.cases += other.cases
        self.attached += other.attached
        self.linked += other.linked
        for k, v in other.suppressed.items():
            self.suppressed[k] = self.suppressed.get(k, 0) + v


@dataclass
class _Pending:
    """A new camera case this batch will open, and the signals that fall into it."""

    new: NewCase
    signals: list[Signal]
    last: datetime


class _Context:
    """Per-batch state: caches and indexes loaded once, so that a batch of thousands of alarms costs a handful
    of queries; new camera cases are collected and opened together at the end of the batch."""

    def __init__(self, session: Session, now: datetime, window: timedelta, radius_m: float) -> None:
        self.session = session
        self.now = now
        self.window = window
        self.radius_m = radius_m
        self.categories = {c.code: c for c in session.execute(select(Category)).scalars()}
        self.rules = list(session.execute(select(SuppressionRule).where(SuppressionRule.until > now)).scalars())
        self.cameras: dict[int, Camera] = {}
        self.open_cases: dict[tuple[int, int], tuple[int, datetime]] = {}  # (camera, category) -> (case, last alarm)
        self.pending: dict[tuple[int, int], _Pending] = {}  # the latest new case of each (camera, category)
        self.to_open: list[_Pending] = []  # every new case, in order

    def load(self, signals: list[Signal]) -> None:
        camera_ids = {s.camera_id for s in signals if s.camera_id is not None}
        if not camera_ids:
            return
        self.cameras = {
            c.id: c
            for c in self.session.execute(
                select(Camera).options(joinedload(Camera.unit)).where(Camera.id.in_(camera_ids))
            ).scalars()
        }
        earliest = min(s.time or s.received_at for s in signals) - self.window
        rows = self.session.execute(
            select(Signal.camera_id, Case.category_id, Case.id, func.max(Signal.time))
            .join(Case, Case.id == Signal.case_id)
            .where(
                Signal.camera_id.in_(camera_ids),
                Case.state.in_([s.value for s in OPEN_STATES]),
                Signal.time >= earliest,
            )
            .group_by(Signal.camera_id, Case.category_id, Case.id)
        ).all()
        for camera_id, category_id, case_id, last in rows:
            known = self.open_cases.get((camera_id, category_id))
            if known is None or last > known[1]:
                self.open_cases[(camera_id, category_id)] = (case_id, last)

    def suppression(self, camera: Camera | None, category: Category, place: AdminUnit, at: datetime) -> str | None:
        if camera is not None and camera.maintenance_until is not None and at < camera.maintenance_until:
            return f"maintenance:camera {camera.id} until {camera.maintenance_until.isoformat()}"
        for rule in self.rules:
            if not (rule.starts_at <= at < rule.until):
                continue
            if rule.camera_id is not None and (camera is None or rule.camera_id != camera.id):
                continue
            if rule.category_id is not None and rule.category_id != category.id:
                continue
            if rule.area is not None and not place.path.startswith(rule.area.path):
                continue
            return f"rule:{rule.id} {rule.reason}"
        return None


def _camera_signal(ctx: _Context, signal: Signal, report: IntakeReport) -> None:
    if signal.camera_id is None:
        report.suppress(signal, "unknown_camera")
        return
    camera = ctx.cameras[signal.camera_id]
    type_ = signal.type or ""
    if type_ in INFORMATIONAL:
        report.suppress(signal, f"informational:{type_}")
        return
    code = ALARM_CATEGORY.get(type_)
    category = ctx.categories.get(code) if code else None
    if category is None:
        report.suppress(signal, f"unmapped_type:{type_}")
        return
    at = signal.time or signal.received_at
    reason = ctx.suppression(camera, category, camera.unit, at)
    if reason:
        report.suppress(signal, reason)
        return
    key = (camera.id, category.id)
    known = ctx.open_cases.get(key)
    if known is not None and abs(at - known[1]) <= ctx.window:
        report.settle(signal, "attached", known[0])
        ctx.open_cases[key] = (known[0], max(at, known[1]))
        report.attached += 1
        return
    pending = ctx.pending.get(key)
    if pending is not None and abs(at - pending.last) <= ctx.window:
        pending.signals.append(signal)
        pending.last = max(at, pending.last)
        return
    if signal.state == "stop":
        report.suppress(signal, "stop_without_open_case")
        return
    label = TYPE_NAMES.get(type_, type_)
    zones = signal.fields.get("zones") or signal.fields.get("zone") or signal.fields.get("rule_name")
    new = NewCase(
        source=Source.CAMERA,
        category=category,
        place=camera.unit,
        description=f"{camera.name}：{label}" + (f"（{zones}）" if zones else ""),
        actor=f"camera:{camera.id}",
        camera=camera,
        data={"signal": signal.id, "type": type_, "device_time": at.isoformat()},
    )
    ctx.pending[key] = _Pending(new, [signal], at)
    ctx.to_open.append(ctx.pending[key])


def _open_pending(ctx: _Context, report: IntakeReport, prefix: str) -> None:
    groups = ctx.to_open
    cases = create_cases(ctx.session, [g.new for g in groups], ctx.now, prefix)
    for group, case in zip(groups, cases, strict=True):
        first, *rest = group.signals
        report.settle(first, "cased", case.id)
        for signal in rest:
            report.settle(signal, "attached", case.id)
        report.cases.append(case.number)
        report.attached += len(rest)
    ctx.pending.clear()
    ctx.to_open = []


def _citizen_signal(ctx: _Context, signal: Signal, report: IntakeReport, prefix: str) -> None:
    fields = signal.fields
    category = ctx.categories.get(str(fields.get("category") or ""))
    if category is None:
        report.suppress(signal, f"unknown_category:{fields.get('category')}")
        return
    lat, lon = fields.get("lat"), fields.get("lon")
    place: AdminUnit | None = None
    if lat is not None and lon is not None:
        try:
            place = locate(ctx.session, float(lat), float(lon))
        except (ValueError, DomainError):  # unparseable or outside every village: try the address, else suppress
            place = None
    if place is None and fields.get("unit"):
        place = ctx.session.execute(select(AdminUnit).where(AdminUnit.code == fields["unit"])).scalars().first()
    if place is None:
        report.suppress(signal, "outside_jurisdiction")
        return
    at = signal.time or signal.received_at
    reason = ctx.suppression(None, category, place, at)
    if reason:
        report.suppress(signal, reason)
        return
    if lat is not None and lon is not None:
        duplicate = _nearby_open_case(ctx, category, float(lat), float(lon))
        if duplicate is not None:
            from_state, from_tier = duplicate.state, duplicate.tier
            duplicate.reporter_count += 1
            record_event(
                ctx.session,
                duplicate,
                "link_report",
                f"{signal.source}:{signal.id}",
                ctx.now,
                "同类问题附近已有案卷，合并计数 / duplicate report linked",
                from_state,
                from_tier,
                {"signal": signal.id, "reporters": duplicate.reporter_count},
            )
            report.settle(signal, "linked", duplicate.id)
            report.linked += 1
            return
    case = create_case(
        ctx.session,
        source=Source.HOTLINE if signal.source == "hotline" else Source.CITIZEN,
        category=category,
        place=place,
        description=str(fields.get("description") or category.name),
        actor=f"{signal.source}:{signal.id}",
        now=ctx.now,
        lat=float(lat) if lat is not None else None,
        lon=float(lon) if lon is not None else None,
        address=str(fields["address"])[:255] if fields.get("address") else None,
        prefix=prefix,
        data={"signal": signal.id},
    )
    report.settle(signal, "cased", case.id)
    report.cases.append(case.number)


def _nearby_open_case(ctx: _Context, category: Category, lat: float, lon: float) -> Case | None:
    box = ctx.radius_m / 111_000 * 2
    candidates = ctx.session.execute(
        select(Case).where(
            Case.category_id == category.id,
            Case.state.in_([s.value for s in OPEN_STATES]),
            and_(Case.lat.between(lat - box, lat + box), Case.lon.between(lon - box * 1.3, lon + box * 1.3)),
        )
    ).scalars()
    best: tuple[float, Case] | None = None
    for case in candidates:
        if case.lat is None or case.lon is None:
            continue
        d = haversine_m(lat, lon, case.lat, case.lon)
        if d <= ctx.radius_m and (best is None or d < best[0]):
            best = (d, case)
    return best[1] if best else None


def process_batch(
    session: Session,
    *,
    limit: int = 500,
    now: datetime | None = None,
    prefix: str = "LY",
    window: timedelta = DEFAULT_CORRELATION,
    radius_m: float = DEFAULT_DUPLICATE_RADIUS_M,
    ids: list[int] | None = None,
) -> IntakeReport:
    """Process up to `limit` new signals (or only those of `ids`), oldest first, inside the caller's
    transaction."""
    ctx = _Context(session, now or utcnow(), window, radius_m)
    stmt = (
        select(Signal)
        .options(defer(Signal.raw))
        .where(Signal.status == "new", Signal.source.not_in(SKIPPED_SOURCES))
        .order_by(Signal.id)
        .limit(limit)
    )
    if ids is not None:
        stmt = stmt.where(Signal.id.in_(ids))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    signals = list(session.execute(stmt).scalars())
    ctx.load(signals)
    report = IntakeReport()
    for signal in signals:
        if signal.source in CITIZEN_SOURCES:
            _citizen_signal(ctx, signal, report, prefix)
        else:
            _camera_signal(ctx, signal, report)
        report.processed += 1
    _open_pending(ctx, report, prefix)
    session.flush()
    _write_outcomes(session, report, utcnow())
    return report


def _write_outcomes(session: Session, report: IntakeReport, processed_at: datetime) -> None:
    """Every processed signal's outcome, written in bulk: one UPDATE … FROM unnest(arrays) on PostgreSQL (one
    round trip), an executemany on SQLite (in-process, no round trips to save)."""
    items = [(sid, status, case_id, reason) for sid, (status, case_id, reason) in report.outcomes.items()]
    table = Signal.__table__
    connection = session.connection()
    if not items:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("sid"))
            .values(
                status=bindparam("st"),
                case_id=bindparam("cid"),
                suppressed_by=bindparam("sup"),
                processed_at=processed_at,
            ),
            [{"sid": sid, "st": st, "cid": cid, "sup": sup} for sid, st, cid, sup in items],
        )
        return
    # Four arrays, one short statement: psycopg does not re-parse a long query with thousands of parameters.
    connection.execute(
        text(
            "UPDATE signal SET status = o.st, case_id = o.cid, suppressed_by = o.sup, processed_at = :at"
            " FROM unnest(CAST(:sids AS integer[]), CAST(:sts AS text[]), CAST(:cids AS integer[]),"
            " CAST(:sups AS text[])) AS o(sid, st, cid, sup) WHERE signal.id = o.sid"
        ),
        {
            "at": processed_at,
            "sids": [i[0] for i in items],
            "sts": [i[1] for i in items],
            "cids": [i[2] for i in items],
            "sups": [i[3] for i in items],
        },
    )
