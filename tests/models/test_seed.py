"""The demo seed: the Linyi-like tree, taxonomy, units, cameras, users and rules, loaded idempotently."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from models import seed_data as data
from models.db import Base, Database
from models.org import AdminUnit, ApiClient, Camera, CameraSource, Level, ResponsibleUnit, Role, UnitContact, User
from models.privacy import SealedPhone, mask_phone, normalize_phone
from models.seed import seed_demo
from models.taxonomy import Category, RoutingRule

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
LINYI_BOX = (34.80, 35.45, 118.05, 118.65)  # lat min, lat max, lon min, lon max
SEEDED = (AdminUnit, Category, ResponsibleUnit, UnitContact, CameraSource, ApiClient, Camera, User, RoutingRule)


class FakeSealer:
    """A models.privacy.PhoneSealer whose sealing, like Fernet's, differs on every call."""

    def __init__(self) -> None:
        self.nonce = itertools.count(1)
        self.sealed_calls = 0

    def digest(self, phone: str) -> str:
        return hashlib.sha256(b"k:" + normalize_phone(phone).encode()).hexdigest()

    def seal(self, phone: str) -> SealedPhone:
        e164 = normalize_phone(phone)
        self.sealed_calls += 1
        blob = base64.b64encode(e164.encode()).decode()
        return SealedPhone(sealed=f"fake:{next(self.nonce)}:{blob}", digest=self.digest(e164), masked=mask_phone(e164))

    def open(self, sealed: str) -> str:
        return base64.b64decode(sealed.split(":", 2)[2]).decode()


class FakeHasher:
    """Salted like argon2: the same password hashes differently each time."""

    def __init__(self) -> None:
        self.salt = itertools.count(1)
        self.calls = 0

    def __call__(self, password: str) -> str:
        self.calls += 1
        return f"fake${next(self.salt)}${hashlib.sha256(password.encode()).hexdigest()}"

    @staticmethod
    def check(hashed: str | None, password: str) -> bool:
        return hashed is not None and hashed.endswith("$" + hashlib.sha256(password.encode()).hexdigest())


def seed(
    db: Database, sealer: FakeSealer | None = None, hasher: FakeHasher | None = None, token: str = "demo-token"
) -> dict[str, int]:
    with db.write() as s:
        return seed_demo(
            s, sealer=sealer or FakeSealer(), hash_password=hasher or FakeHasher(), demo_token=token, now=T0
        )


def snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every column of every seeded table, ordered by id."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with db.read() as s:
        for model in SEEDED:
            table = Base.metadata.tables[model.__tablename__]
            rows = s.execute(select(table).order_by(table.c.id)).all()
            out[model.__tablename__] = [tuple(row) for row in rows]
    return out


def table_counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0 for m in SEEDED}


# --------------------------------------------------------------------------- the data itself (no database)


def test_data_has_33_townships_in_4_districts_with_unique_codes() -> None:
    assert len(data.DISTRICTS) == 4
    assert len(data.TOWNSHIPS) == 33
    villages = data.villages()
    codes = [data.CITY.code] + [d.code for d in data.DISTRICTS] + [t.code for t in data.TOWNSHIPS]
    codes += [v.code for v in villages]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"3713\d{8}", code) for code in codes)
    per_town = {t.code: sum(1 for v in villages if v.township == t.code) for t in data.TOWNSHIPS}
    assert all(3 <= n <= 6 for n in per_town.values()), per_town
    for town in data.TOWNSHIPS:
        assert town.code.startswith(town.district[:6]) or town.district == data.GAOXIN
        assert town.code.endswith("000")


def test_data_cameras_are_unique_and_well_formed() -> None:
    cams = data.cameras()
    assert len(cams) >= 240
    assert len({(c.vendor, c.external_id) for c in cams}) == len(cams)
    assert {c.vendor for c in cams} == {"hikvision", "dahua", "gb28181", "frigate", "generic"}
    assert {c.kind for c in cams} == {"public_road", "residential", "checkpoint", "high_altitude"}


# --------------------------------------------------------------------------- seeding


def test_seed_counts_tree_roles_and_linyi_problems(db: Database) -> None:
    counts = seed(db)
    assert counts == table_counts(db)
    assert counts["camera"] >= 240
    with db.read() as s:
        by_level = {lvl: n for lvl, n in s.execute(select(AdminUnit.level, func.count()).group_by(AdminUnit.level))}
        assert by_level[Level.CITY.value] == 1
        assert by_level[Level.DISTRICT.value] == 4
        assert by_level[Level.TOWNSHIP.value] == 33
        assert by_level[Level.VILLAGE.value] >= 3 * 33
        district_names = set(s.scalars(select(AdminUnit.name).where(AdminUnit.level == Level.DISTRICT.value)))
        assert {"兰山区", "河东区", "罗庄区"} <= district_names
        roles = set(s.scalars(select(User.role)))
        assert roles == {role.value for role in Role}
        names = set(s.scalars(select(Category.name)))
        for problem in ("暴露垃圾", "机动车乱停放", "非机动车乱停放", "违法建设", "非法小广告"):
            assert problem in names
        for component in ("井盖破损", "道路破损", "路灯损坏"):
            assert component in names
        for alarm in ("区域入侵", "越界", "交通事故", "交通拥堵", "烟火"):
            assert alarm in names
        cats = s.scalars(select(Category)).all()
        assert 30 <= len(cats) <= 40
        for cat in cats:
            assert re.fullmatch(r"[CE]\d{4}", cat.code)
            assert cat.kind == ("component" if cat.code[0] == "C" else "event")
            assert cat.major_code == cat.code[1:3] and cat.minor_code == cat.code[3:5]
            assert cat.name_en and cat.major_name


def test_seed_twice_changes_nothing(db: Database) -> None:
    sealer, hasher = FakeSealer(), FakeHasher()
    first = seed(db, sealer, hasher)
    before = snapshot(db)
    seals, hashes = sealer.sealed_calls, hasher.calls
    second = seed(db, sealer, hasher)
    assert second == first
    assert snapshot(db) == before
    assert sealer.sealed_calls == seals and hasher.calls == hashes  # nothing resealed or rehashed


def test_seed_restores_drifted_rows_and_versions_rules(db: Database) -> None:
    seed(db)
    with db.write() as s:
        cam = s.scalars(select(Camera).order_by(Camera.id)).first()
        cam.name, cam.lat = "改过的名字", 0.0
        s.scalars(select(Category).where(Category.code == "E0201")).one().name = "小广告?"
        rule = s.scalars(select(RoutingRule).where(RoutingRule.key == "cat-E0201")).one()
        rule.rectify_hours = 999.0
        cam_id = cam.id
    seed(db)
    with db.read() as s:
        cam = s.get(Camera, cam_id)
        assert cam.name != "改过的名字" and cam.lat > 34
        assert s.scalars(select(Category.name).where(Category.code == "E0201")).one() == "非法小广告"
        versions = s.scalars(select(RoutingRule).where(RoutingRule.key == "cat-E0201").order_by(RoutingRule.version))
        old, new = versions.all()
        assert (old.version, old.active, old.rectify_hours) == (1, False, 999.0)
        assert (new.version, new.active, new.rectify_hours) == (2, True, 48.0)
    before = snapshot(db)
    seed(db)
    assert snapshot(db) == before


def test_tree_paths_codes_and_village_coordinates(db: Database) -> None:
    seed(db)
    lat_min, lat_max, lon_min, lon_max = LINYI_BOX
    with db.read() as s:
        units = {u.id: u for u in s.scalars(select(AdminUnit))}
        codes = [u.code for u in units.values()]
        assert len(codes) == len(set(codes))
        assert all(re.fullmatch(r"\d{12}", code) for code in codes)
        points = set()
        for unit in units.values():
            assert unit.lat is not None and unit.lon is not None, unit.name
            assert lat_min < unit.lat < lat_max and lon_min < unit.lon < lon_max, unit.name
            if unit.parent_id is None:
                assert unit.level == Level.CITY.value and unit.path == f"/{unit.id}/"
                continue
            parent = units[unit.parent_id]
            assert unit.path == f"{parent.path}{unit.id}/"
            assert parent.contains(unit)
            if unit.level == Level.VILLAGE.value:
                assert parent.level == Level.TOWNSHIP.value
                assert unit.code[:9] == parent.code[:9]
                # within ~4 km of its township's centre, and no two villages on one point
                assert abs(unit.lat - parent.lat) < 0.04 and abs(unit.lon - parent.lon) < 0.05, unit.name
                assert (unit.lat, unit.lon) not in points
                points.add((unit.lat, unit.lon))
            if unit.level == Level.TOWNSHIP.value:
                assert parent.level == Level.DISTRICT.value
        hedong = {u.name: u for u in units.values() if u.level == Level.TOWNSHIP.value}
        # 河东区 lies east of the 沂河, 兰山区's old city west of it, 罗庄区 to the south
        assert hedong["九曲街道"].lon > hedong["兰山街道"].lon
        assert hedong["罗庄街道"].lat < hedong["兰山街道"].lat
        assert units[hedong["罗西街道"].parent_id].code == data.GAOXIN
        assert units[hedong["马厂湖镇"].parent_id].code == data.GAOXIN


def test_cameras_ids_units_and_source(db: Database) -> None:
    seed(db, token="s3cret")
    with db.read() as s:
        source = s.scalars(select(CameraSource).where(CameraSource.name == "demo")).one()
        assert source.token_digest == hashlib.sha256(b"s3cret").hexdigest()
        assert source.basic_username == "demo" and FakeHasher.check(source.basic_password_digest, "s3cret")
        cams = s.scalars(select(Camera)).all()
        assert len(cams) >= 200
        assert {c.source_id for c in cams} == {source.id}
        village_ids = set(s.scalars(select(AdminUnit.id).where(AdminUnit.level == Level.VILLAGE.value)))
        assert {c.unit_id for c in cams} == village_ids  # every village has at least one camera
        units = {u.id: u for u in s.scalars(select(AdminUnit))}
        gb = [c for c in cams if c.vendor == "gb28181"]
        assert gb and len({c.gb_device_id for c in gb}) == len(gb)
        for cam in gb:
            assert re.fullmatch(r"\d{20}", cam.gb_device_id or "") and cam.external_id == cam.gb_device_id
            assert cam.gb_device_id[:6] == units[units[units[cam.unit_id].parent_id].parent_id].code[:6]
            assert cam.gb_device_id[10:13] in {"131", "132"}
        for cam in cams:
            if cam.vendor in {"hikvision", "dahua"}:
                assert cam.serial and cam.channel and cam.external_id == f"{cam.serial}:{cam.channel}"
                assert 1 <= cam.channel <= 4
            else:
                assert cam.channel is None
            if cam.vendor == "hikvision":
                assert re.fullmatch(r"DS-2CD2T47G2-L20240315AACH\d{9}", cam.serial or "")
            if cam.vendor == "dahua":
                assert re.fullmatch(r"7J0A1B2PAZ\d{6}", cam.serial or "")
            village = units[cam.unit_id]
            assert abs(cam.lat - village.lat) < 0.01 and abs(cam.lon - village.lon) < 0.01
            assert cam.name.startswith(units[village.parent_id].name + "-")
    # a new token rehashes the Basic password; the same token does not
    hasher = FakeHasher()
    seed(db, hasher=hasher, token="s3cret")
    assert hasher.calls == 0
    seed(db, hasher=hasher, token="other")
    assert hasher.calls == 1


def test_responsible_units_and_sealed_contacts(db: Database) -> None:
    sealer = FakeSealer()
    seed(db, sealer)
    with db.read() as s:
        units = {u.id: u for u in s.scalars(select(ResponsibleUnit))}
        areas = {a.id: a for a in s.scalars(select(AdminUnit))}
        kinds = {}
        for unit in units.values():
            kinds.setdefault(unit.kind, []).append(unit)
            area = areas[unit.area_id]
            if unit.kind == "government":
                assert area.level == Level.TOWNSHIP.value and unit.code == f"GOV-{area.code}"
                assert unit.name.endswith("办事处" if area.name.endswith("街道") else "人民政府")
            elif unit.kind == "committee":
                assert area.level == Level.VILLAGE.value and unit.code == f"VC-{area.code}"
            else:
                assert unit.kind == "department" and area.level == Level.CITY.value
        assert len(kinds["government"]) == 33
        assert {u.code for u in kinds["department"]} == {
            "DEPT-CG",
            "DEPT-HW",
            "DEPT-JJ",
            "DEPT-GA",
            "DEPT-ZJ",
            "DEPT-ZR",
        }
        contacts = s.scalars(select(UnitContact)).all()
        priorities: dict[int, list[int]] = {}
        for contact in contacts:
            priorities.setdefault(contact.unit_id, []).append(contact.priority)
            plain = sealer.open(contact.phone_sealed)
            assert re.fullmatch(r"\+86139000\d{5}", plain)
            assert contact.phone_sealed != plain and plain not in contact.phone_sealed
            assert contact.phone_digest == sealer.digest(plain)
            assert contact.phone_masked == mask_phone(plain)
            assert re.fullmatch(r"\+86 139\*{4}\d{4}", contact.phone_masked)
        assert len({c.phone_digest for c in contacts}) == len(contacts)  # replies identify one contact
        for unit_id, prios in priorities.items():
            expected = [1] if units[unit_id].kind == "committee" else [1, 2]
            assert sorted(prios) == expected
        assert set(priorities) == set(units)


def test_users_scopes_and_passwords(db: Database) -> None:
    seed(db)
    with db.read() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        for spec in data.USERS:
            assert FakeHasher.check(users[spec.username].password_hash, f"demo-{spec.username}")
        city = users["reviewer_city"].admin_unit
        township = users["reviewer_township"].admin_unit
        village = users["reviewer_village"].admin_unit
        assert (city.level, township.name, village.level) == ("city", "兰山街道", "village")
        assert city.contains(township) and township.contains(village)
        assert users["inspector"].role == "inspector" and users["inspector"].admin_unit.level == "city"
        hedong_t = users["reviewer_township_hedong"].admin_unit
        hedong_v = users["reviewer_village_hedong"].admin_unit
        assert hedong_t.contains(hedong_v) and not township.contains(hedong_v) and not hedong_t.contains(village)
        assert users["dispatcher"].unit_code == "GOV-371302001000"
        assert users["dispatcher"].responsible_unit.name == "兰山街道办事处"
        assert users["dispatcher_village"].responsible_unit.area_id == village.id
        assert all(u.display_name for u in users.values())


def test_routing_rules(db: Database) -> None:
    seed(db)
    with db.read() as s:
        rules = {r.key: r for r in s.scalars(select(RoutingRule))}
        assert all(
            r.active and r.version == 1 and r.created_by == "seed" and r.created_at == T0 for r in rules.values()
        )
        default = rules["default"]
        assert (default.category_id, default.area_id, default.responsible_unit_id) == (None, None, None)
        assert (default.start_tier, default.ack_hours, default.rectify_hours) == ("village", 1.0, 72.0)
        assert {default.review_hours(t) for t in ("village", "township", "city")} == {1.0}

        def unit(key: str) -> str | None:
            return rules[key].responsible_unit.code if rules[key].responsible_unit else None

        assert unit("cat-E0501") == "DEPT-JJ"  # motor vehicles: traffic police
        assert unit("cat-E0502") is None  # non-motor vehicles: the township government
        assert unit("cat-E0101") is None and unit("cat-E0301") == "DEPT-ZJ"
        assert (unit("cat-E0601"), rules["cat-E0601"].start_tier) == ("DEPT-GA", "township")
        assert (unit("cat-E0607"), rules["cat-E0607"].start_tier) == ("DEPT-JJ", "township")
        assert rules["cat-E0201"].rectify_hours == 48.0 and rules["cat-E0301"].rectify_hours == 168.0
        assert rules["cat-C0102"].rectify_hours == 120.0
        with_category = [r for r in rules.values() if r.category_id is not None]
        assert len(with_category) == len(data.CATEGORIES)
        assert all(24.0 <= r.rectify_hours <= 168.0 or r.category.code.startswith("E06") for r in with_category)


@pytest.mark.parametrize("level", [Level.DISTRICT, Level.TOWNSHIP])
def test_every_township_and_district_has_a_centre_and_english_name(db: Database, level: Level) -> None:
    seed(db)
    with db.read() as s:
        for unit in s.scalars(select(AdminUnit).where(AdminUnit.level == level.value)):
            assert unit.lat is not None and unit.lon is not None
            assert unit.name_en and unit.name_en.isascii()
