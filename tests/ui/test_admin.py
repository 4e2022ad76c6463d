"""The admin pages as the demo admin: each renders its tables, and each form writes what it says."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from integrations.secrets import token_digest
from models.db import Database
from models.org import AdminUnit, Camera, CameraSource, ResponsibleUnit, User
from models.taxonomy import Category, RoutingRule
from tests.ui.support import console, texts

TOWNSHIP = "371302001000"  # 兰山街道
VILLAGE = "371302001001"  # 兰山第一社区


def read(url: str, statement: object) -> list[object]:
    db = Database(url)
    try:
        with db.read() as session:
            return list(session.execute(statement).all())  # type: ignore[call-overload]
    finally:
        db.dispose()


def frame(app: AppTest, column: str) -> pd.DataFrame:
    """The one table of the page with `column` (read-only tables carry no key AppTest can see)."""
    (table,) = [d.value for d in app.dataframe if column in d.value.columns]
    return table


def submit(app: AppTest, key: str) -> AppTest:
    app.button(key=key).click().run()
    assert not app.exception, app.exception
    return app


def test_units_page_adds_renames_a_unit_and_adds_a_masked_contact(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(demo_url, monkeypatch, "admin", "admin_units")
    assert not app.exception
    assert app.title[0].value == "行政区划与责任单位"
    tree = frame(app, "上级")
    assert len(tree) == len(read(demo_url, select(AdminUnit.id)))
    assert "兰山街道" in tree["名称"].str.strip().tolist()
    assert "+86 1" in frame(app, "短信联系人")["短信联系人"].iloc[0]

    app.text_input(key="unit_add_code").input("371302001099")
    app.text_input(key="unit_add_name").input("幸福社区")
    app.selectbox(key="unit_add_level").set_value("village")
    app.selectbox(key="unit_add_parent").set_value(TOWNSHIP)
    submit(app, "unit_add_submit")
    assert "已新增区划 371302001099" in texts(app)
    ((name, level, path),) = read(
        demo_url, select(AdminUnit.name, AdminUnit.level, AdminUnit.path).where(AdminUnit.code == "371302001099")
    )
    township_path = read(demo_url, select(AdminUnit.path).where(AdminUnit.code == TOWNSHIP))[0][0]
    assert (name, level) == ("幸福社区", "village") and path.startswith(township_path) and path.count("/") == 5

    app.selectbox(key="unit_edit_code").set_value("371302001099")
    app.text_input(key="unit_edit_name").input("幸福家园")
    submit(app, "unit_edit_submit")
    assert read(demo_url, select(AdminUnit.name).where(AdminUnit.code == "371302001099")) == [("幸福家园",)]

    app.text_input(key="unit_add_code").input("371302001099")
    submit(app, "unit_add_submit")
    assert "区划代码 371302001099 已存在" in texts(app)

    app.text_input(key="runit_add_code").input("DEPT-TEST")
    app.text_input(key="runit_add_name").input("测试管理局")
    app.selectbox(key="runit_add_kind").set_value("department")
    app.selectbox(key="runit_add_area").set_value(TOWNSHIP)
    submit(app, "runit_add_submit")
    assert read(demo_url, select(ResponsibleUnit.name).where(ResponsibleUnit.code == "DEPT-TEST")) == [("测试管理局",)]

    app.selectbox(key="contact_unit").set_value("DEPT-TEST").run()
    app.text_input(key="contact_add_name").input("值班室")
    app.text_input(key="contact_add_phone").input("139-0539-1234")
    submit(app, "contact_add_submit")
    assert "已添加联系人" in texts(app)
    assert frame(app, "号码")["号码"].tolist() == ["+86 139****1234"]
    assert "13905391234" not in texts(app)

    app.text_input(key="contact_add_phone").input("12345")
    submit(app, "contact_add_submit")
    assert "电话号码无效" in texts(app)
    submit(app, "contact_deactivate")
    assert frame(app, "号码")["状态"].tolist() == ["停用"]


def test_cameras_page_registers_a_camera_and_shows_a_rotated_token_once(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(demo_url, monkeypatch, "admin", "admin_cameras")
    assert not app.exception
    assert len(frame(app, "设备编号")) == len(read(demo_url, select(Camera.id)))
    township_path = read(demo_url, select(AdminUnit.path).where(AdminUnit.code == TOWNSHIP))[0][0]
    app.selectbox(key="cam_township").set_value(township_path).run()
    in_town = frame(app, "设备编号")
    assert 0 < len(in_town) < 271 and all(n.startswith("兰山街道") for n in in_town["名称"])

    app.selectbox(key="cam_add_vendor").set_value("dahua")
    app.text_input(key="cam_add_external_id").input("7J0TEST:2")
    app.text_input(key="cam_add_name").input("兰山街道-测试路口-1")
    app.selectbox(key="cam_add_kind").set_value("checkpoint")
    app.selectbox(key="cam_add_unit").set_value(VILLAGE)
    app.number_input(key="cam_add_lat").set_value(35.079)
    app.number_input(key="cam_add_lon").set_value(118.329)
    app.selectbox(key="cam_add_source").set_value("demo")
    submit(app, "cam_add_submit")
    assert "已登记摄像机" in texts(app)
    ((serial, channel, kind, source_id),) = read(
        demo_url,
        select(Camera.serial, Camera.channel, Camera.kind, Camera.source_id).where(Camera.external_id == "7J0TEST:2"),
    )
    assert (serial, channel, kind) == ("7J0TEST", 2, "checkpoint") and source_id is not None
    assert "兰山街道-测试路口-1" in frame(app, "设备编号")["名称"].tolist()

    camera_id = read(demo_url, select(Camera.id).where(Camera.external_id == "7J0TEST:2"))[0][0]
    app.selectbox(key="cam_edit_id").set_value(camera_id)
    app.text_input(key="cam_edit_name").input("兰山街道-测试卡口")
    app.selectbox(key="cam_edit_source").set_value("-")
    submit(app, "cam_edit_submit")
    assert read(demo_url, select(Camera.name, Camera.source_id).where(Camera.id == camera_id)) == [
        ("兰山街道-测试卡口", None)
    ]

    app.selectbox(key="source_rotate_name").set_value("demo")
    submit(app, "source_rotate_submit")
    (token,) = [code.value for code in app.code]
    assert "只显示这一次" in texts(app)
    assert read(demo_url, select(CameraSource.token_digest).where(CameraSource.name == "demo")) == [
        (token_digest(token),)
    ]
    app.run()
    assert not app.code and "只显示这一次" not in texts(app)


def test_categories_page_adds_renames_and_switches_off(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = console(demo_url, monkeypatch, "admin", "admin_categories")
    assert not app.exception
    assert len(frame(app, "部件/事件")) == 38
    app.text_input(key="cat_add_code").input("E0299")
    app.text_input(key="cat_add_name").input("乱涂乱画")
    app.text_input(key="cat_add_name_en").input("Graffiti")
    submit(app, "cat_add_submit")
    assert "已新增类别 E0299" in texts(app)
    assert read(demo_url, select(Category.name, Category.kind).where(Category.code == "E0299")) == [
        ("乱涂乱画", "event")
    ]

    app.selectbox(key="cat_edit_code").set_value("E0299")
    app.text_input(key="cat_edit_name_en").input("Graffiti on walls")
    submit(app, "cat_edit_submit")
    assert read(demo_url, select(Category.name_en).where(Category.code == "E0299")) == [("Graffiti on walls",)]

    app.selectbox(key="cat_pick").set_value("E0299")
    submit(app, "cat_deactivate")
    assert read(demo_url, select(Category.active).where(Category.code == "E0299")) == [(False,)]
    app.selectbox(key="cat_status").set_value("inactive").run()
    assert frame(app, "部件/事件")["代码"].tolist() == ["E0299"]


def test_rules_page_edit_creates_a_new_version(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = console(demo_url, monkeypatch, "admin", "admin_rules")
    assert not app.exception
    assert len(app.dataframe[0].value) == len(
        read(demo_url, select(RoutingRule.id).where(RoutingRule.active.is_(True)))
    )
    app.selectbox(key="rule_key").set_value("default").run()
    app.selectbox(key="rule_edit_start_tier_default").set_value("township")
    app.number_input(key="rule_edit_ack_hours_default").set_value(2.0)
    app.number_input(key="rule_edit_rectify_working_days_default").set_value(5)
    submit(app, "rule_edit_submit")
    assert "已保存规则 default" in texts(app)
    versions = read(
        demo_url,
        select(RoutingRule.version, RoutingRule.active, RoutingRule.start_tier, RoutingRule.ack_hours)
        .where(RoutingRule.key == "default")
        .order_by(RoutingRule.version),
    )
    assert [tuple(v) for v in versions] == [(1, False, "village", 1.0), (2, True, "township", 2.0)]
    history = app.dataframe[1].value
    assert history["版本"].tolist() == [2, 1] and history["生效状态"].tolist() == ["现行", "历史"]

    app.text_input(key="rule_new_key").input("c0101-lanshan")
    app.selectbox(key="rule_add_category_new").set_value("C0101")
    app.selectbox(key="rule_add_area_new").set_value(TOWNSHIP)
    submit(app, "rule_add_submit")
    ((category, area, created_by),) = read(
        demo_url,
        select(Category.code, AdminUnit.code, RoutingRule.created_by)
        .join(Category, RoutingRule.category_id == Category.id)
        .join(AdminUnit, RoutingRule.area_id == AdminUnit.id)
        .where(RoutingRule.key == "c0101-lanshan"),
    )
    assert (category, area, created_by) == ("C0101", TOWNSHIP, "admin")


def sign_in(demo_url: str, monkeypatch: pytest.MonkeyPatch, username: str, password: str) -> AppTest:
    app = console(demo_url, monkeypatch)
    app.text_input(key="signin_user").input(username)
    app.text_input(key="signin_password").input(password)
    app.button[0].click().run()
    assert not app.exception
    return app


def test_a_user_added_on_the_users_page_signs_in_until_deactivated(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(demo_url, monkeypatch, "admin", "admin_users")
    assert not app.exception
    assert len(frame(app, "用户名")) == len(read(demo_url, select(User.id)))
    app.text_input(key="user_add_username").input("zhang.san")
    app.text_input(key="user_add_name").input("张三")
    app.selectbox(key="user_add_role").set_value("reviewer")
    app.selectbox(key="user_add_unit").set_value(VILLAGE)
    app.text_input(key="user_add_password").input("zhang-pass-1")
    submit(app, "user_add_submit")
    assert "已新增用户 zhang.san" in texts(app)

    visitor = sign_in(demo_url, monkeypatch, "zhang.san", "zhang-pass-1")
    assert visitor.session_state["username"] == "zhang.san"
    assert visitor.title[0].value == "审核队列"

    app.selectbox(key="user_target").set_value("zhang.san")
    app.selectbox(key="user_role_role").set_value("dispatcher")
    app.selectbox(key="user_role_unit").set_value(VILLAGE)
    submit(app, "user_role_submit")
    assert f"没有责任单位 {VILLAGE}" in texts(app)
    app.selectbox(key="user_role_unit").set_value("GOV-371302001000")
    submit(app, "user_role_submit")
    app.text_input(key="user_email").input("Zhang@Example.cn")
    submit(app, "user_email_submit")
    submit(app, "user_deactivate")
    assert read(demo_url, select(User.role, User.email, User.active).where(User.username == "zhang.san")) == [
        ("dispatcher", "zhang@example.cn", False)
    ]
    refused = sign_in(demo_url, monkeypatch, "zhang.san", "zhang-pass-1")
    assert "username" not in refused.session_state
    assert "用户名或密码不正确" in texts(refused)

    app.selectbox(key="user_target").set_value("admin")
    submit(app, "user_deactivate")
    assert "管理员不能停用自己的账号" in texts(app)
    assert read(demo_url, select(User.active).where(User.username == "admin")) == [(True,)]


def test_admin_pages_speak_english(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = console(demo_url, monkeypatch, "admin", "admin_rules", lang="en")
    assert app.title[0].value == "Routing rules" and "Rule" in app.dataframe[0].value.columns
    for page, title in (("admin_units", "Units"), ("admin_cameras", "Cameras"), ("admin_users", "Users and roles")):
        app.switch_page(f"screens/{page}.py").run()
        assert not app.exception and app.title[0].value == title
