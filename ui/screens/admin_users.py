"""Users and roles (用户与角色): accounts with their role and unit — an administrative unit for inspectors,
reviewers and leaders, a responsible unit for dispatchers — passwords, the e-mail OIDC sign-in maps to, and
deactivation (an administrator cannot deactivate or demote themself)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from integrations.secrets import hash_password
from models import admin
from models.org import Role, User
from ui.admin import admin_units, choose, filter_bar, matches, responsible_units, run, table
from ui.i18n import tr
from ui.session import database, require

ROLES = {
    Role.INSPECTOR.value: ("文明办巡查员", "inspector"),
    Role.REVIEWER.value: ("审核员", "reviewer"),
    Role.DISPATCHER.value: ("责任单位处置员", "dispatcher"),
    Role.LEADER.value: ("领导", "leader"),
    Role.ADMIN.value: ("系统管理员", "administrator"),
}


def role_name(role: str) -> str:
    return tr(*ROLES.get(role, (role, role)))


viewer = require("admin")
st.title(tr("用户与角色", "Users and roles"))
role_labels = {role: role_name(role) for role in ROLES}

with database().read() as session:
    users = (
        session.execute(
            select(User)
            .options(selectinload(User.admin_unit), selectinload(User.responsible_unit))
            .order_by(User.username)
        )
        .scalars()
        .all()
    )
    listed = [
        (
            u.username,
            u.display_name,
            u.role,
            u.unit_code or "",
            (u.responsible_unit or u.admin_unit).name if (u.responsible_unit or u.admin_unit) else "",
            u.email or "",
            u.password_hash is not None,
            u.active,
        )
        for u in users
    ]
    area_labels = admin_units(session)
    runit_labels = responsible_units(session)
# One picker for both kinds of unit: the role decides which kind an account needs (models.admin checks it).
unit_labels = {
    "": tr("（无）", "(none)"),
    **{code: tr("区划 · ", "area · ") + label for code, label in area_labels.items()},
    **{code: tr("责任单位 · ", "unit · ") + label for code, label in runit_labels.items()},
}
usernames = [row[0] for row in listed]

needle, role_filter = filter_bar(
    ("查找用户", "Find a user"), "users_filter", tr("角色", "Role"), role_labels, "users_role"
)
table(
    [
        {
            tr("用户名", "Username"): username,
            tr("姓名", "Name"): name,
            tr("角色", "Role"): role_name(role),
            tr("单位", "Unit"): unit_name,
            tr("单位代码", "Unit code"): unit,
            tr("电子邮箱(统一认证)", "E-mail (OIDC)"): email,
            tr("密码", "Password"): tr("已设置", "set") if has_password else tr("未设置", "none"),
            tr("状态", "Status"): tr("在用", "active") if active else tr("停用", "off"),
        }
        for username, name, role, unit, unit_name, email, has_password, active in listed
        if (not role_filter or role == role_filter) and matches(needle, username, name, unit, unit_name, email)
    ],
    "users_table",
)

with st.form("user_add"):
    st.subheader(tr("新增用户", "Add a user"))
    first, second = st.columns(2)
    username = first.text_input(tr("用户名", "Username"), key="user_add_username")
    display_name = second.text_input(tr("姓名", "Display name"), key="user_add_name")
    role = choose(tr("角色", "Role"), role_labels, "user_add_role", first)
    unit = choose(
        tr("单位（处置员选责任单位，其他角色选区划）", "Unit (dispatchers: a responsible unit; others: an area)"),
        unit_labels,
        "user_add_unit",
        second,
    )
    password = first.text_input(
        tr("初始密码（至少 8 位；留空则只能统一认证登录）", "Initial password (8+ characters; blank: OIDC only)"),
        type="password",
        key="user_add_password",
    )
    email = second.text_input(tr("电子邮箱（统一认证，可空）", "E-mail for OIDC (optional)"), key="user_add_email")
    if st.form_submit_button(tr("新增", "Add"), key="user_add_submit", type="primary"):
        run(
            lambda s: admin.add_user(
                s,
                viewer.username,
                username=username,
                display_name=display_name,
                role=role,
                unit_code=unit or None,
                password=password or None,
                hash_password=hash_password,
                email=email or None,
            ),
            tr(f"已新增用户 {username.strip().lower()}", f"User {username.strip().lower()} added"),
        )

st.subheader(tr("修改账号", "Change an account"))
target = choose(tr("账号", "Account"), {u: u for u in usernames}, "user_target")
password_col, role_col, email_col = st.columns(3)
with password_col, st.form("user_password"):
    new_password = st.text_input(tr("新密码（至少 8 位）", "New password (8+)"), type="password", key="user_password")
    if st.form_submit_button(tr("重设密码", "Reset password"), key="user_password_submit") and target:
        run(
            lambda s: admin.set_password(s, viewer.username, target, new_password, hash_password),
            tr(f"已重设 {target} 的密码", f"Password of {target} reset"),
        )
with role_col, st.form("user_role"):
    new_role = choose(tr("新角色", "New role"), role_labels, "user_role_role")
    new_unit = choose(tr("新单位", "New unit"), unit_labels, "user_role_unit")
    if st.form_submit_button(tr("修改角色与单位", "Change role and unit"), key="user_role_submit") and target:
        run(
            lambda s: admin.change_role(s, viewer.username, target, new_role, new_unit or None),
            tr(f"已修改 {target} 的角色与单位", f"Role and unit of {target} changed"),
        )
with email_col, st.form("user_email"):
    new_email = st.text_input(tr("电子邮箱（留空则取消）", "E-mail (blank: none)"), key="user_email")
    if st.form_submit_button(tr("设置邮箱", "Set e-mail"), key="user_email_submit") and target:
        run(
            lambda s: admin.set_email(s, viewer.username, target, new_email or None),
            tr(f"已设置 {target} 的邮箱", f"E-mail of {target} set"),
        )
off, on = st.columns(2)
if off.button(tr("停用账号", "Deactivate account"), key="user_deactivate") and target:
    run(
        lambda s: admin.set_user_active(s, viewer.username, target, False),
        tr(f"已停用 {target}", f"{target} deactivated"),
    )
if on.button(tr("恢复账号", "Reactivate account"), key="user_activate") and target:
    run(
        lambda s: admin.set_user_active(s, viewer.username, target, True),
        tr(f"已恢复 {target}", f"{target} reactivated"),
    )
