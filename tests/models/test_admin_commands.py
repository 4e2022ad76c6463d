"""Admin commands (models/admin.py): each one's effect, its refusal for anyone but an active admin, and its
validation; source credentials checked through the gateway's own SourceAuth."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from starlette.requests import Request

from integrations.gateway import SourceAuth
from integrations.secrets import PhoneVault, token_digest
from models import admin
from models.commands import get_category
from models.db import Database
from models.errors import DomainError, Forbidden, NotFound, ValidationError
from models.org import AdminUnit, Camera, CameraSource, ResponsibleUnit, UnitContact, User
from models.rules import active_rule, edit_rule
from models.taxonomy import Category, RoutingRule
from tests.conftest import TEST_SECRET, fast_hash

VAULT = PhoneVault(TEST_SECRET)
TOWNSHIP = "371302001000"  # 兰山街道
VILLAGE = "371302001001"  # 兰山第一社区


@pytest.fixture
def db(demo_url: str) -> Iterator[Database]:
    database = Database(demo_url)
    yield database
    database.dispose()


def refused(db: Database, error: type[DomainError], command: object) -> DomainError:
    """Run `command(session)` expecting `error`; the transaction is rolled back."""
    with pytest.raises(error) as caught, db.write() as session:
        command(session)  # type: ignore[operator]
    assert caught.value.zh and caught.value.en
    return caught.value


def test_admin_units_are_added_under_their_parent_and_renamed(db: Database) -> None:
    with db.write() as session:
        change = admin.add_admin_unit(
            session,
            "admin",
            code="371302001099",
            name="幸福社区",
            level="village",
            parent_code=TOWNSHIP,
            lat=35.08,
            lon=118.33,
        )
        assert change.changes["parent"] == TOWNSHIP
    with db.read() as session:
        town = session.execute(select(AdminUnit).where(AdminUnit.code == TOWNSHIP)).scalar_one()
        unit = session.execute(select(AdminUnit).where(AdminUnit.code == "371302001099")).scalar_one()
        assert unit.path == f"{town.path}{unit.id}/" and unit.parent_id == town.id and town.contains(unit)
    with db.write() as session:
        change = admin.edit_admin_unit(session, "admin", "371302001099", {"name": "幸福家园社区", "name_en": "Xingfu"})
        assert change.changes == {"name": "幸福家园社区", "name_en": "Xingfu"}
    with db.read() as session:
        assert (
            session.execute(select(AdminUnit.name).where(AdminUnit.code == "371302001099")).scalar_one()
            == "幸福家园社区"
        )

    def add(code: str, level: str, parent: str | None, user: str = "admin") -> object:
        return lambda s: admin.add_admin_unit(s, user, code=code, name="x", level=level, parent_code=parent)

    assert "已存在" in refused(db, ValidationError, add("371302001099", "village", TOWNSHIP)).zh
    refused(db, ValidationError, add("371302001098", "township", VILLAGE))  # a township under a village
    refused(db, ValidationError, add("371302001097", "village", None))  # only a city has no parent
    refused(db, ValidationError, lambda s: admin.edit_admin_unit(s, "admin", VILLAGE, {"lat": 95.0, "lon": 118.0}))
    refused(db, ValidationError, lambda s: admin.edit_admin_unit(s, "admin", VILLAGE, {"parent": TOWNSHIP}))
    refused(db, Forbidden, add("371302001096", "village", TOWNSHIP, "reviewer_city"))


def test_responsible_units_and_their_contacts_sealed(db: Database) -> None:
    with db.write() as session:
        admin.add_responsible_unit(
            session, "admin", code="DEPT-TEST", name="测试局", kind="department", area_code=VILLAGE
        )
        admin.edit_responsible_unit(session, "admin", "DEPT-TEST", {"area": TOWNSHIP, "name": "测试管理局"})
        change = admin.add_contact(session, "admin", "DEPT-TEST", name="值班室", phone="139 0539 1234", sealer=VAULT)
    assert change.changes["phone"] == "+86 139****1234" and change.changes["priority"] == 1
    assert "13905391234" not in str(change)
    with db.read() as session:
        unit = session.execute(select(ResponsibleUnit).where(ResponsibleUnit.code == "DEPT-TEST")).scalar_one()
        assert unit.name == "测试管理局" and unit.area.code == TOWNSHIP
        (contact,) = unit.contacts
        assert contact.phone_masked == "+86 139****1234" and "1391234" not in contact.phone_sealed
        assert VAULT.open(contact.phone_sealed) == "+8613905391234"
        assert contact.phone_digest == VAULT.digest("+8613905391234")
    with db.write() as session:
        admin.set_contact_active(session, "admin", contact.id, False)
    with db.read() as session:
        assert session.get(UnitContact, contact.id).active is False  # type: ignore[union-attr]

    def contact(phone: str) -> object:
        return lambda s: admin.add_contact(s, "admin", "DEPT-TEST", name="备用", phone=phone, sealer=VAULT)

    assert "电话号码无效" in refused(db, ValidationError, contact("12345")).zh
    refused(
        db,
        ValidationError,
        lambda s: admin.add_responsible_unit(
            s, "admin", code="DEPT-TEST", name="x", kind="department", area_code=VILLAGE
        ),
    )
    refused(
        db,
        ValidationError,
        lambda s: admin.add_responsible_unit(s, "admin", code="DEPT-X", name="x", kind="bank", area_code=VILLAGE),
    )
    refused(
        db,
        Forbidden,
        lambda s: admin.add_contact(s, "dispatcher", "DEPT-TEST", name="x", phone="13800138000", sealer=VAULT),
    )


def test_cameras_are_registered_edited_and_assigned_a_source(db: Database) -> None:
    values = {"name": "测试路口-1", "kind": "public_road", "unit": VILLAGE, "lat": 35.079, "lon": 118.329}
    with db.write() as session:
        change = admin.add_camera(session, "admin", vendor="hikvision", external_id="DS-TEST0001:3", values=values)
        camera_id = int(change.key)
        admin.add_camera(
            session, "admin", vendor="gb28181", external_id="37130200001320000999", values={**values, "name": "国标-1"}
        )
    until = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    with db.write() as session:
        change = admin.edit_camera(
            session,
            "admin",
            camera_id,
            {"unit": TOWNSHIP, "source": "demo", "maintenance_until": until, "snapshot_url": "rtsp://10.0.0.5/1"},
        )
        assert set(change.changes) == {"unit_id", "source_id", "maintenance_until", "snapshot_url"}
    with db.read() as session:
        camera = session.get(Camera, camera_id)
        assert camera is not None
        assert (camera.serial, camera.channel, camera.unit.code) == ("DS-TEST0001", 3, TOWNSHIP)
        assert camera.source is not None and camera.source.name == "demo" and camera.maintenance_until == until
        gb = session.execute(select(Camera).where(Camera.external_id == "37130200001320000999")).scalar_one()
        assert gb.gb_device_id == "37130200001320000999"

    def add(vendor: str, external_id: str, **extra: object) -> object:
        return lambda s: admin.add_camera(
            s, "admin", vendor=vendor, external_id=external_id, values={**values, **extra}
        )

    assert "已登记" in refused(db, ValidationError, add("hikvision", "DS-TEST0001:3")).zh
    refused(db, ValidationError, add("gb28181", "1234"))
    refused(db, ValidationError, add("hikvision", "DS-TEST0002"))  # no channel
    refused(db, ValidationError, add("sony", "x:1"))
    refused(db, ValidationError, add("generic", "cam-9", kind="zoo"))
    refused(db, ValidationError, add("generic", "cam-9", lat=0.0, lon=0.0))
    refused(db, NotFound, add("generic", "cam-9", unit="999999999999"))
    refused(db, Forbidden, lambda s: admin.edit_camera(s, "inspector", camera_id, {"name": "x"}))


def request(authorization: str | None = None, query: str = "") -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/ingest/generic",
            "headers": headers,
            "query_string": query.encode(),
        }
    )


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_source_tokens_rotate_and_only_the_new_one_passes_the_gateway(db: Database) -> None:
    with db.write() as session:
        created = admin.add_source(session, "admin", "nvr-hedong", token_digest)
    assert created.secret and created.secret not in repr(created)
    with db.read() as session:
        source = session.execute(select(CameraSource).where(CameraSource.name == "nvr-hedong")).scalar_one()
        assert source.token_digest == token_digest(created.secret)
    assert SourceAuth(db).resolve(request(f"Bearer {created.secret}")) == source.id
    with db.write() as session:
        rotated = admin.rotate_source_token(session, "admin", "nvr-hedong", token_digest)
    assert rotated.secret and rotated.secret != created.secret
    auth = SourceAuth(db)
    assert auth.resolve(request(f"Bearer {created.secret}")) is None
    assert auth.resolve(request(query=f"token={created.secret}")) is None
    assert auth.resolve(request(f"Bearer {rotated.secret}")) == source.id
    assert auth.resolve(request(query=f"token={rotated.secret}")) == source.id

    with db.write() as session:
        generated = admin.set_source_basic(session, "admin", "nvr-hedong", "nvr", None, fast_hash)
        typed = admin.set_source_basic(session, "admin", "demo", "demo", "a-long-password", fast_hash)
    assert generated.secret and typed.secret is None  # a typed password is not echoed back
    running = SourceAuth(db)  # one gateway process, remembering the pair it checked
    assert running.resolve(request(basic("nvr", generated.secret))) == source.id
    with db.write() as session:
        again = admin.set_source_basic(session, "admin", "nvr-hedong", "nvr", None, fast_hash)
    assert again.secret is not None
    assert SourceAuth(db).resolve(request(basic("nvr", generated.secret))) is None
    running.TTL_S = 0.0  # as if the memo's time had passed: the changed password is checked again and refused
    assert running.resolve(request(basic("nvr", generated.secret))) is None
    assert SourceAuth(db).resolve(request(basic("nvr", again.secret))) == source.id

    refused(db, ValidationError, lambda s: admin.add_source(s, "admin", "nvr-hedong", token_digest))
    refused(db, ValidationError, lambda s: admin.set_source_basic(s, "admin", "demo", "demo", "short", fast_hash))
    refused(db, Forbidden, lambda s: admin.rotate_source_token(s, "reviewer_city", "demo", token_digest))


def test_categories_are_added_renamed_and_switched_off(db: Database) -> None:
    with db.write() as session:
        change = admin.add_category(session, "admin", code="e0299", name="乱贴乱画", name_en="Graffiti")
        assert change.key == "E0299"
        admin.add_category(session, "admin", code="E9901", name="新事件", name_en="New event", major_name="其他事件")
        admin.edit_category(session, "admin", "E0299", {"name": "乱涂乱画"})
    with db.read() as session:
        category = session.execute(select(Category).where(Category.code == "E0299")).scalar_one()
        sibling = session.execute(select(Category).where(Category.code == "E0201")).scalar_one()
        assert (category.kind, category.major_code, category.minor_code) == ("event", "02", "99")
        assert category.major_name == sibling.major_name and category.name == "乱涂乱画"
    with db.write() as session:
        admin.set_category_active(session, "admin", "E0299", False)
    refused(db, NotFound, lambda s: get_category(s, "E0299"))  # no longer offered to new cases
    with db.write() as session:
        admin.set_category_active(session, "admin", "E0299", True)
        assert get_category(session, "E0299").active

    assert (
        "已存在"
        in refused(
            db, ValidationError, lambda s: admin.add_category(s, "admin", code="E0299", name="x", name_en="x")
        ).zh
    )
    refused(db, ValidationError, lambda s: admin.add_category(s, "admin", code="X0101", name="x", name_en="x"))
    refused(db, ValidationError, lambda s: admin.add_category(s, "admin", code="E9801", name="x", name_en="x"))
    refused(db, ValidationError, lambda s: admin.edit_category(s, "admin", "E0299", {"name": " "}))
    refused(db, Forbidden, lambda s: admin.set_category_active(s, "leader", "E0299", False))


def test_users_are_added_with_role_unit_password_and_email(db: Database) -> None:
    with db.write() as session:
        admin.add_user(
            session,
            "admin",
            username="Zhang.San",
            display_name="张三",
            role="reviewer",
            unit_code=VILLAGE,
            password="secret-pass",
            hash_password=fast_hash,
            email="Zhang@Example.cn",
        )
        admin.add_user(
            session,
            "admin",
            username="unit_worker",
            display_name="李四",
            role="dispatcher",
            unit_code="GOV-371302001000",
            password=None,
            hash_password=fast_hash,
        )
    with db.read() as session:
        zhang = session.execute(select(User).where(User.username == "zhang.san")).scalar_one()
        assert (zhang.role, zhang.unit_code, zhang.email) == ("reviewer", VILLAGE, "zhang@example.cn")
        assert zhang.password_hash and "secret-pass" not in zhang.password_hash
        worker = session.execute(select(User).where(User.username == "unit_worker")).scalar_one()
        assert worker.responsible_unit is not None and worker.admin_unit is None and worker.password_hash is None
    with db.write() as session:
        admin.change_role(session, "admin", "zhang.san", "leader", TOWNSHIP)
        admin.set_password(session, "admin", "unit_worker", "another-pass", fast_hash)
        admin.set_email(session, "admin", "zhang.san", None)
        admin.set_user_active(session, "admin", "zhang.san", False)
    with db.read() as session:
        zhang = session.execute(select(User).where(User.username == "zhang.san")).scalar_one()
        assert (zhang.role, zhang.unit_code, zhang.email, zhang.active) == ("leader", TOWNSHIP, None, False)
    refused(db, Forbidden, lambda s: admin.set_user_active(s, "zhang.san", "admin", False))  # inactive, and no admin

    def add(**fields: object) -> object:
        spec = {
            "username": "wang",
            "display_name": "王五",
            "role": "inspector",
            "unit_code": VILLAGE,
            "password": "password-1",
            "hash_password": fast_hash,
        } | fields
        return lambda s: admin.add_user(s, "admin", **spec)

    assert "已存在" in refused(db, ValidationError, add(username="zhang.san")).zh
    refused(db, ValidationError, add(password="short"))
    refused(db, ValidationError, add(role="superuser"))
    refused(db, ValidationError, add(unit_code=None))  # an inspector belongs to an area
    refused(db, NotFound, add(role="dispatcher", unit_code=VILLAGE))  # a dispatcher needs a responsible unit
    refused(db, ValidationError, add(username="王五"))
    refused(db, ValidationError, add(email="not-an-address"))
    with db.write() as session:
        admin.set_email(session, "admin", "leader", "shared@example.cn")
    assert (
        "leader"
        in refused(db, ValidationError, lambda s: admin.set_email(s, "admin", "inspector", "Shared@example.cn")).en
    )
    assert "自己" in refused(db, ValidationError, lambda s: admin.set_user_active(s, "admin", "admin", False)).zh
    refused(db, ValidationError, lambda s: admin.change_role(s, "admin", "admin", "reviewer", VILLAGE))
    refused(db, Forbidden, lambda s: admin.set_password(s, "reviewer_city", "admin", "taken-over", fast_hash))


def test_rules_are_added_and_edited_as_new_versions(db: Database) -> None:
    with db.write() as session:
        category_id = session.execute(select(Category.id).where(Category.code == "C0101")).scalar_one()
        admin.add_rule(
            session,
            "admin",
            "c0101-lanshan",
            {"category_id": category_id, "start_tier": "township", "rectify_hours": 24.0},
        )
    with db.write() as session:
        first = active_rule(session, "c0101-lanshan")
        assert first is not None and (first.version, first.created_by, first.start_tier) == (1, "admin", "township")
        second = edit_rule(session, "c0101-lanshan", {"rectify_working_days": 2}, "admin")
        assert (second.version, second.start_tier, second.rectify_hours, second.rectify_working_days) == (
            2,
            "township",
            24.0,
            2,
        )
    with db.read() as session:
        versions = session.execute(
            select(RoutingRule.version, RoutingRule.active)
            .where(RoutingRule.key == "c0101-lanshan")
            .order_by(RoutingRule.version)
        ).all()
        assert [tuple(v) for v in versions] == [(1, False), (2, True)]
    refused(db, ValidationError, lambda s: admin.add_rule(s, "admin", "c0101-lanshan", {}))
    refused(db, ValidationError, lambda s: admin.add_rule(s, "admin", "bad key!", {}))
    refused(db, ValidationError, lambda s: admin.add_rule(s, "admin", "other", {"start_tier": "province"}))
    refused(db, Forbidden, lambda s: admin.add_rule(s, "reviewer_city", "other", {}))
