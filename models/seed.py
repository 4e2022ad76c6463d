"""`xueliang seed demo`: load the Linyi-like demo (models/seed_data.py) idempotently.

Every row is looked up by its natural key (AdminUnit.code, Category.code, ResponsibleUnit.code, the contact's
(unit, priority), CameraSource.name, a camera's (vendor, external_id), User.username, the active RoutingRule of a
key) and inserted when missing or brought back to the demo's values when it drifted; a second run writes nothing.
Secrets are never redone needlessly: a contact is resealed only when its number's digest changes, a password or
the source's Basic password is hashed only when the row is new (or, for the source, when the token changed),
since sealing and hashing are salted. A routing rule that differs from the demo is edited the versioned way
(the old row deactivated, a new version inserted), so cases keep pointing at the rule they were routed by.
Rows are never deleted, and operators' `active` switches on existing rows are left alone.

Demo accounts (password = "demo-" + username; for demonstrations only):

=========================  ==========  =======================================  =================================
username                   role        unit                                     password
=========================  ==========  =======================================  =================================
inspector                  inspector   临沂市 (文明办巡查员)                       demo-inspector
inspector_village          inspector   兰山第一社区 (网格员)                       demo-inspector_village
reviewer_city              reviewer    临沂市                                    demo-reviewer_city
reviewer_township          reviewer    兰山街道                                  demo-reviewer_township
reviewer_village           reviewer    兰山第一社区 (兰山街道)                     demo-reviewer_village
reviewer_township_hedong   reviewer    九曲街道 (河东区)                          demo-reviewer_township_hedong
reviewer_village_hedong    reviewer    中兴社区 (九曲街道)                        demo-reviewer_village_hedong
dispatcher                 dispatcher  兰山街道办事处 (GOV-371302001000)           demo-dispatcher
dispatcher_village         dispatcher  兰山第一社区居民委员会 (VC-371302001001)     demo-dispatcher_village
leader                     leader      临沂市                                    demo-leader
admin                      admin       临沂市                                    demo-admin
=========================  ==========  =======================================  =================================

The camera source "demo" accepts `Authorization: Bearer <demo_token>`, `?token=<demo_token>` or HTTP Basic
demo:<demo_token>. The Open311 client "demo" has the api_key XUELIANG_DEMO_OPEN311_KEY (default demo-open311-key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import seed_data as data
from models.db import Base, utcnow
from models.org import AdminUnit, ApiClient, Camera, CameraSource, Level, ResponsibleUnit, UnitContact, User
from models.privacy import PhoneSealer, normalize_phone
from models.rules import save_rule_version
from models.taxonomy import Category, RoutingRule

M = TypeVar("M", bound=Base)


def _assign(obj: object, values: Mapping[str, Any]) -> bool:
    """Set only the attributes that differ, so that an unchanged row stays clean (no UPDATE)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _upsert(
    session: Session, existing: dict[Any, M], key: Any, factory: Callable[[], M], values: Mapping[str, Any]
) -> M:
    row = existing.get(key)
    if row is None:
        row = factory()
        _assign(row, values)
        session.add(row)
        existing[key] = row
    else:
        _assign(row, values)
    return row


# --------------------------------------------------------------------------- administrative tree


def _unit_specs() -> list[tuple[str, str, str, Level, str | None, float, float]]:
    """(code, name, name_en, level, parent code, lat, lon), parents before children."""
    city = data.CITY
    specs: list[tuple[str, str, str, Level, str | None, float, float]] = [
        (city.code, city.name, city.name_en, Level.CITY, None, city.lat, city.lon)
    ]
    specs += [(d.code, d.name, d.name_en, Level.DISTRICT, city.code, d.lat, d.lon) for d in data.DISTRICTS]
    specs += [(t.code, t.name, t.name_en, Level.TOWNSHIP, t.district, t.lat, t.lon) for t in data.TOWNSHIPS]
    specs += [(v.code, v.name, v.name_en, Level.VILLAGE, v.township, v.lat, v.lon) for v in data.villages()]
    return specs


def _seed_units(session: Session) -> dict[str, AdminUnit]:
    existing = {u.code: u for u in session.scalars(select(AdminUnit))}
    specs = _unit_specs()
    for level in (Level.CITY, Level.DISTRICT, Level.TOWNSHIP, Level.VILLAGE):
        batch: list[tuple[str | None, AdminUnit]] = []
        for code, name, name_en, lvl, parent_code, lat, lon in specs:
            if lvl is not level:
                continue
            parent = existing[parent_code] if parent_code is not None else None
            values = {
                "name": name,
                "name_en": name_en,
                "level": lvl.value,
                "lat": lat,
                "lon": lon,
                "parent_id": parent.id if parent is not None else None,
            }
            # A new row gets its materialised path once the flush has given it an id.
            row = _upsert(session, existing, code, lambda code=code: AdminUnit(code=code, path=""), values)
            batch.append((parent_code, row))
        if any(row.id is None for _, row in batch):
            session.flush()
        for parent_code, row in batch:
            parent_path = existing[parent_code].path if parent_code is not None else "/"
            _assign(row, {"path": f"{parent_path}{row.id}/"})
    return existing


# --------------------------------------------------------------------------- taxonomy


def _seed_categories(session: Session) -> dict[str, Category]:
    existing = {c.code: c for c in session.scalars(select(Category))}
    for spec in data.CATEGORIES:
        kind = "component" if spec.code.startswith("C") else "event"
        majors = data.COMPONENT_MAJORS if kind == "component" else data.EVENT_MAJORS
        major, minor = spec.code[1:3], spec.code[3:5]
        values = {
            "name": spec.name,
            "name_en": spec.name_en,
            "kind": kind,
            "major_code": major,
            "major_name": majors[major][0],
            "minor_code": minor,
        }
        _upsert(session, existing, spec.code, lambda code=spec.code: Category(code=code, active=True), values)
    return existing


# --------------------------------------------------------------------------- responsible units and contacts


def _unit_plan() -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """(code, name, kind, area code, contact names by priority) for every demo responsible unit."""
    plan: list[tuple[str, str, str, str, tuple[str, ...]]] = []
    for dept in data.DEPARTMENTS:
        contacts = (f"{dept.name}值班室", f"{dept.name}分管负责人")
        plan.append((dept.code, dept.name, "department", data.CITY.code, contacts))
    for town in data.TOWNSHIPS:
        name = data.government_name(town.name)
        plan.append(
            (data.government_code(town.code), name, "government", town.code, (f"{name}值班室", f"{name}分管负责人"))
        )
    for village in data.villages():
        name = data.committee_name(village.name)
        plan.append((data.committee_code(village.code), name, "committee", village.code, (f"{village.name}网格员",)))
    return plan


def _seed_responsible_units(
    session: Session, units: Mapping[str, AdminUnit], plan: list[tuple[str, str, str, str, tuple[str, ...]]]
) -> dict[str, ResponsibleUnit]:
    existing = {u.code: u for u in session.scalars(select(ResponsibleUnit))}
    for code, name, kind, area_code, _contacts in plan:
        values = {"name": name, "kind": kind, "area_id": units[area_code].id}
        _upsert(session, existing, code, lambda code=code: ResponsibleUnit(code=code), values)
    session.flush()
    return existing


def _seed_contacts(
    session: Session,
    runits: Mapping[str, ResponsibleUnit],
    plan: list[tuple[str, str, str, str, tuple[str, ...]]],
    sealer: PhoneSealer,
) -> int:
    existing = {(c.unit_id, c.priority): c for c in session.scalars(select(UnitContact))}
    index = 0
    for code, _name, _kind, _area, contact_names in plan:
        unit = runits[code]
        for priority, contact_name in enumerate(contact_names, start=1):
            index += 1
            phone = normalize_phone(data.demo_phone(index))
            row = existing.get((unit.id, priority))
            if row is None:
                sealed = sealer.seal(phone)
                row = UnitContact(
                    unit_id=unit.id,
                    priority=priority,
                    name=contact_name,
                    active=True,
                    phone_sealed=sealed.sealed,
                    phone_digest=sealed.digest,
                    phone_masked=sealed.masked,
                )
                session.add(row)
                existing[(unit.id, priority)] = row
                continue
            _assign(row, {"name": contact_name})
            if row.phone_digest != sealer.digest(phone):
                sealed = sealer.seal(phone)  # sealing is salted: only redo it when the number changed
                _assign(
                    row, {"phone_sealed": sealed.sealed, "phone_digest": sealed.digest, "phone_masked": sealed.masked}
                )
    return index


# --------------------------------------------------------------------------- cameras


def _seed_source(session: Session, demo_token: str, hash_password: Callable[[str], str]) -> CameraSource:
    source = session.execute(select(CameraSource).where(CameraSource.name == data.DEMO_SOURCE)).scalar_one_or_none()
    token_digest = hashlib.sha256(demo_token.encode("utf-8")).hexdigest()
    if source is None:
        source = CameraSource(name=data.DEMO_SOURCE)
        session.add(source)
    if source.token_digest != token_digest or source.basic_password_digest is None:
        # Password hashes are salted: hash again only when the token is new or changed.
        source.token_digest = token_digest
        source.basic_password_digest = hash_password(demo_token)
    _assign(source, {"basic_username": "demo"})
    session.flush()
    return source


def _seed_api_client(session: Session, open311_key: str) -> None:
    """The demo's Open311 client; its api_key is XUELIANG_DEMO_OPEN311_KEY (only a digest is stored)."""
    digest = hashlib.sha256(open311_key.encode("utf-8")).hexdigest()
    client = session.execute(select(ApiClient).where(ApiClient.name == data.DEMO_SOURCE)).scalar_one_or_none()
    if client is None:
        session.add(ApiClient(name=data.DEMO_SOURCE, key_digest=digest, active=True))
    else:
        _assign(client, {"key_digest": digest})


def _seed_cameras(session: Session, units: Mapping[str, AdminUnit], source: CameraSource) -> int:
    existing = {(c.vendor, c.external_id): c for c in session.scalars(select(Camera))}
    specs = data.cameras()
    for spec in specs:
        values = {
            "serial": spec.serial,
            "channel": spec.channel,
            "gb_device_id": spec.gb_device_id,
            "name": spec.name,
            "kind": spec.kind,
            "unit_id": units[spec.village].id,
            "lat": spec.lat,
            "lon": spec.lon,
            "source_id": source.id,
        }
        key = (spec.vendor, spec.external_id)
        _upsert(session, existing, key, lambda s=spec: Camera(vendor=s.vendor, external_id=s.external_id), values)
    return len(specs)


# --------------------------------------------------------------------------- users


def _seed_users(
    session: Session,
    units: Mapping[str, AdminUnit],
    runits: Mapping[str, ResponsibleUnit],
    hash_password: Callable[[str], str],
) -> int:
    existing = {u.username: u for u in session.scalars(select(User))}
    for spec in data.USERS:
        values = {
            "display_name": spec.display_name,
            "role": spec.role,
            "admin_unit_id": units[spec.admin_unit].id if spec.admin_unit is not None else None,
            "responsible_unit_id": runits[spec.responsible_unit].id if spec.responsible_unit is not None else None,
        }
        row = existing.get(spec.username)
        if row is None:
            password_hash = hash_password(data.demo_password(spec.username))
            row = User(username=spec.username, active=True, password_hash=password_hash)
            session.add(row)
            existing[spec.username] = row
        _assign(row, values)  # an existing account keeps its password hash
    return len(data.USERS)


# --------------------------------------------------------------------------- routing rules


def _seed_rules(
    session: Session, categories: Mapping[str, Category], runits: Mapping[str, ResponsibleUnit], now: datetime
) -> int:
    """Each demo rule through the one versioned editor: unchanged rules stay, drifted ones get a new version."""
    for spec in data.ROUTING_RULES:
        values = {
            "category_id": categories[spec.category].id if spec.category is not None else None,
            "area_id": None,
            "start_tier": spec.start_tier,
            "responsible_unit_id": runits[spec.responsible].id if spec.responsible is not None else None,
            "review_hours_village": spec.review_hours,
            "review_hours_township": spec.review_hours,
            "review_hours_city": spec.review_hours,
            "ack_hours": spec.ack_hours,
            "rectify_hours": spec.rectify_hours,
            "rectify_working_days": spec.rectify_days,
            "calendar": "24x7",
        }
        save_rule_version(session, spec.key, values, "seed", now)
    return len(data.ROUTING_RULES)


# --------------------------------------------------------------------------- entry point


def seed_demo(
    session: Session,
    *,
    sealer: PhoneSealer,
    hash_password: Callable[[str], str],
    demo_token: str,
    open311_key: str = "demo-open311-key",
    now: datetime | None = None,
) -> dict[str, int]:
    """Insert or restore the demo; returns how many rows of each table the demo consists of (the same numbers on
    every run). Runs inside the caller's transaction and only flushes."""
    now = now or utcnow()
    units = _seed_units(session)
    categories = _seed_categories(session)
    plan = _unit_plan()
    runits = _seed_responsible_units(session, units, plan)
    contacts = _seed_contacts(session, runits, plan, sealer)
    source = _seed_source(session, demo_token, hash_password)
    cameras = _seed_cameras(session, units, source)
    _seed_api_client(session, open311_key)
    users = _seed_users(session, units, runits, hash_password)
    rules = _seed_rules(session, categories, runits, now)
    session.flush()
    return {
        AdminUnit.__tablename__: len(_unit_specs()),
        Category.__tablename__: len(data.CATEGORIES),
        ResponsibleUnit.__tablename__: len(plan),
        UnitContact.__tablename__: contacts,
        CameraSource.__tablename__: 1,
        ApiClient.__tablename__: 1,
        Camera.__tablename__: cameras,
        User.__tablename__: users,
        RoutingRule.__tablename__: rules,
    }
