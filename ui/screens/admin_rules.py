"""Routing rules (分拨规则): category × area → starting tier, responsible unit and deadlines. Every edit goes
through models.rules.edit_rule, which keeps the old version (cases point at the version they were routed by)."""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import admin
from models.commands import get_category
from models.org import TIER_ORDER
from models.rules import edit_rule
from models.taxonomy import Category, RoutingRule
from ui.admin import admin_units, choose, matches, responsible_units, run, table, text_filter
from ui.i18n import local_time, tier_name, tr
from ui.session import database, require

CALENDARS = {"24x7": ("全天计时", "clock hours"), "working": ("工作时间计时", "working hours")}
ANY = ""


def rule_row(rule: RoutingRule) -> dict[str, Any]:
    days = rule.rectify_working_days
    return {
        tr("规则", "Rule"): rule.key,
        tr("版本", "Version"): rule.version,
        tr("问题类别", "Category"): f"{rule.category.code} {rule.category.name}"
        if rule.category
        else tr("任意", "any"),
        tr("区域", "Area"): rule.area.name if rule.area else tr("任意", "any"),
        tr("起始层级", "Start tier"): tier_name(rule.start_tier),
        tr("责任单位", "Responsible unit"): rule.responsible_unit.name
        if rule.responsible_unit
        else tr("所在乡镇", "the place's township"),
        tr("审核时限(村/镇/市,小时)", "Review hours (village/township/city)"): (
            f"{rule.review_hours_village:g}/{rule.review_hours_township:g}/{rule.review_hours_city:g}"
        ),
        tr("签收时限(小时)", "Acknowledge hours"): rule.ack_hours,
        tr("整改时限", "Rectify within"): tr(f"{days} 个工作日", f"{days} working days")
        if days
        else tr(f"{rule.rectify_hours:g} 小时", f"{rule.rectify_hours:g} hours"),
        tr("计时", "Clock"): tr(*CALENDARS.get(rule.calendar, (rule.calendar, rule.calendar))),
        tr("生效状态", "Status"): tr("现行", "current") if rule.active else tr("历史", "superseded"),
        tr("修改人", "By"): rule.created_by,
        tr("时间", "At"): local_time(rule.created_at),
    }


viewer = require("admin")
st.title(tr("分拨规则", "Routing rules"))

with database().read() as session:
    rules = (
        session.execute(
            select(RoutingRule)
            .options(
                selectinload(RoutingRule.category),
                selectinload(RoutingRule.area),
                selectinload(RoutingRule.responsible_unit),
            )
            .order_by(RoutingRule.key, RoutingRule.version.desc())
        )
        .scalars()
        .all()
    )
    rows = {rule.id: rule_row(rule) for rule in rules}
    current = {rule.key: rule for rule in rules if rule.active}
    history = {key: [rows[r.id] for r in rules if r.key == key] for key in {r.key for r in rules}}
    category_labels = {
        code: f"{code} {name}"
        for code, name in session.execute(select(Category.code, Category.name).order_by(Category.code)).all()
    }
    unit_labels = admin_units(session)
    runit_labels = responsible_units(session)
    searchable = {
        rule.key: (rule.key, rule.category.name if rule.category else "", rule.category.code if rule.category else "")
        for rule in current.values()
    }
    current_values = {
        key: {
            "category": rule.category.code if rule.category else ANY,
            "area": rule.area.code if rule.area else ANY,
            "responsible": rule.responsible_unit.code if rule.responsible_unit else ANY,
            **{name: getattr(rule, name) for name in ("start_tier", "ack_hours", "rectify_hours", "calendar")},
            **{f"review_hours_{tier.value}": rule.review_hours(tier.value) for tier in TIER_ORDER},
            "rectify_working_days": rule.rectify_working_days or 0,
        }
        for key, rule in current.items()
    }

needle = text_filter("查找规则", "Find a rule", "rules_filter")
table([rows[rule.id] for key, rule in sorted(current.items()) if matches(needle, *searchable[key])], "rules_table")

st.subheader(tr("修改规则", "Edit a rule"))
keys = sorted(current)
any_category = tr("任意类别", "any category")
rule_labels = {k: f"{k} · {category_labels.get(current_values[k]['category'], any_category)}" for k in keys}
key = choose(tr("规则", "Rule"), rule_labels, "rule_key")


def pick(label_zh: str, label_en: str, options: dict[str, str], default: str, widget_key: str) -> str:
    """A picker whose first choice, "", means any (no category, no area, the place's township)."""
    labels = {ANY: tr("任意/默认", "any / default"), **options}
    index = list(labels).index(default) if default in labels else 0
    return str(choose(tr(label_zh, label_en), labels, widget_key, index=index))


def hours(label_zh: str, label_en: str, value: float, widget_key: str, column: Any = st) -> float:
    return float(
        column.number_input(tr(label_zh, label_en), min_value=0.1, value=float(value), step=0.5, key=widget_key)
    )


def rule_form(form_key: str, defaults: dict[str, Any], suffix: str) -> dict[str, Any] | None:
    """The fields of a routing rule, prefilled from `defaults` (widget keys end in `suffix`, so that another rule
    gets fresh fields); their values once the form is submitted."""

    def widget(name: str) -> str:
        return f"{form_key}_{name}_{suffix}"

    with st.form(form_key):
        tiers = [t.value for t in TIER_ORDER]
        values: dict[str, Any] = {
            "category": pick("问题类别", "Category", category_labels, defaults["category"], widget("category")),
            "area": pick("区域", "Area", unit_labels, defaults["area"], widget("area")),
            "responsible": pick(
                "责任单位", "Responsible unit", runit_labels, defaults["responsible"], widget("responsible")
            ),
            "start_tier": choose(
                tr("起始层级", "Start tier"),
                {tier: tier_name(tier) for tier in tiers},
                widget("start_tier"),
                index=tiers.index(defaults["start_tier"]),
            ),
        }
        for column, tier in zip(st.columns(3), TIER_ORDER, strict=True):
            name = f"review_hours_{tier.value}"
            label = tier_name(tier.value)
            values[name] = hours(
                f"{label}审核时限(小时)", f"Review hours at {label}", defaults[name], widget(name), column
            )
        columns = st.columns(4)
        values["ack_hours"] = hours(
            "签收时限(小时)", "Acknowledge hours", defaults["ack_hours"], widget("ack_hours"), columns[0]
        )
        values["rectify_hours"] = hours(
            "整改时限(小时)", "Rectify hours", defaults["rectify_hours"], widget("rectify_hours"), columns[1]
        )
        values["rectify_working_days"] = columns[2].number_input(
            tr("整改工作日(0=按小时)", "Rectify working days (0: use hours)"),
            min_value=0,
            max_value=60,
            value=int(defaults["rectify_working_days"]),
            step=1,
            key=widget("rectify_working_days"),
        )
        values["calendar"] = choose(
            tr("计时", "Clock"),
            {name: tr(*labels) for name, labels in CALENDARS.items()},
            widget("calendar"),
            columns[3],
            list(CALENDARS).index(defaults["calendar"]),
        )
        if not st.form_submit_button(tr("保存为新版本", "Save as a new version"), key=f"{form_key}_submit"):
            return None
    return values


def to_rule(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Form values as routing-rule columns: codes resolved to ids, 0 working days = count hours."""
    codes = {name: values[name] for name in ("category", "area", "responsible")}
    columns = {name: value for name, value in values.items() if name not in codes}
    columns["category_id"] = get_category(session, codes["category"]).id if codes["category"] else None
    columns["area_id"] = admin.get_admin_unit(session, codes["area"]).id if codes["area"] else None
    responsible = codes["responsible"]
    columns["responsible_unit_id"] = admin.get_responsible_unit(session, responsible).id if responsible else None
    columns["rectify_working_days"] = int(values["rectify_working_days"]) or None
    return columns


if key is not None:
    submitted = rule_form("rule_edit", current_values[key], key)
    if submitted is not None:
        run(
            lambda s: edit_rule(s, key, to_rule(s, submitted), viewer.username),
            tr(f"已保存规则 {key}（新版本在上表）", f"Rule {key} saved (the new version is listed above)"),
        )
    st.caption(tr(f"{key} 的历史版本", f"Versions of {key}"))
    table(history.get(key, []), "rule_history")

st.subheader(tr("新增规则", "Add a rule"))
new_key = st.text_input(tr("规则键", "Rule key"), key="rule_new_key")
defaults = {"category": ANY, "area": ANY, "responsible": ANY, "start_tier": "village", "calendar": "24x7"}
defaults |= {f"review_hours_{t.value}": 1.0 for t in TIER_ORDER} | {"ack_hours": 1.0, "rectify_hours": 72.0}
defaults["rectify_working_days"] = 0
created = rule_form("rule_add", defaults, "new")
if created is not None:
    run(
        lambda s: admin.add_rule(s, viewer.username, new_key, to_rule(s, created)),
        tr(f"已新增规则 {new_key.strip()}", f"Rule {new_key.strip()} added"),
    )
