"""`xueliang`: the operator's command line (CONTRACT.md). Every verb acts through the same models/ commands as the
flows and the console. `--json` prints one JSON document on stdout; logs and errors go to stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, joinedload

from models.cases import Case
from models.db import Database
from models.errors import DomainError, NotFound, ValidationError
from models.org import AdminUnit, Camera, ResponsibleUnit, User
from models.settings import Settings
from models.taxonomy import Category

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class CliError(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO 8601; a time without offset is Asia/Shanghai local time, as users read clocks."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"{name} 时间格式无效：{value}", f"{name}: not an ISO 8601 time: {value}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)


def parse_day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"{name} 日期格式无效：{value}", f"{name}: not a date (YYYY-MM-DD): {value}") from exc


def local(value: datetime | None) -> str:
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if value else "—"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    out = [list(map(str, header))] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(_width(r[i]) for r in out) for i in range(len(header))]
    for row in out:
        line = "  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row))
        sys.stdout.write(line.rstrip() + "\n")


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


class App:
    def __init__(self) -> None:
        self.settings = Settings.load()
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


# ---------------------------------------------------------------- database and reference data


def cmd_db_upgrade(app: App, args: argparse.Namespace) -> None:
    from migrations.runner import upgrade

    if app.settings.database_url.startswith("sqlite:///"):
        from pathlib import Path

        Path(app.settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(app.settings.database_url)
    print("database is at the newest schema", file=sys.stderr)


def cmd_seed_demo(app: App, args: argparse.Namespace) -> None:
    from integrations.secrets import PhoneVault, hash_password
    from models.seed import seed_demo

    vault = PhoneVault.from_settings(app.settings)
    with app.db.write() as session:
        counts = seed_demo(
            session,
            sealer=vault,
            hash_password=hash_password,
            demo_token=app.settings.demo_token,
            open311_key=app.settings.demo_open311_key,
        )
        if args.cases:
            from models.demo_cases import seed_demo_cases

            counts["demo_cases_opened"] = seed_demo_cases(session)
    if args.json:
        emit(counts)
    else:
        print("demo seeded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def cmd_units(app: App, args: argparse.Namespace) -> None:
    from models.views import units_view

    with app.db.read() as session:
        units = units_view(session)
    if args.json:
        emit(units)
        return
    table([(u["code"], u["name"], u["level"], u["parent"] or "") for u in units], ["code", "名称", "level", "parent"])


def cmd_categories(app: App, args: argparse.Namespace) -> None:
    from models.views import category_view

    with app.db.read() as session:
        rows = [category_view(c) for c in session.execute(select(Category).order_by(Category.code)).scalars()]
    if args.json:
        emit(rows)
        return
    table([(c["code"], c["name"], c["name_en"], c["kind"]) for c in rows], ["code", "名称", "name", "kind"])


def cmd_users(app: App, args: argparse.Namespace) -> None:
    from models.views import user_view

    with app.db.read() as session:
        users = session.execute(
            select(User).options(joinedload(User.admin_unit), joinedload(User.responsible_unit)).order_by(User.username)
        ).scalars()
        rows = [user_view(u) for u in users]
    if args.json:
        emit(rows)
        return
    table([(u["username"], u["name"], u["role"], u["unit"]) for u in rows], ["username", "姓名", "role", "unit"])


def cmd_cameras(app: App, args: argparse.Namespace) -> None:
    from models.views import camera_view

    with app.db.read() as session:
        cameras = session.execute(select(Camera).options(joinedload(Camera.unit)).order_by(Camera.id)).scalars()
        rows = [camera_view(c) for c in cameras]
    if args.json:
        emit(rows)
        return
    table(
        [(c["id"], c["vendor"], c["external_id"], c["name"], c["kind"], c["unit"]) for c in rows],
        ["id", "vendor", "external_id", "名称", "kind", "unit"],
    )


# ---------------------------------------------------------------- cases


def _print_case(view: dict[str, Any]) -> None:
    print(f"{view['number']}  {view['state']} @ {view['tier']}  v{view['version']}  {view['category_name']}")
    print(f"  地点 place: {view['unit_name']} ({view['unit']})  责任单位 unit: {view['responsible_unit'] or '—'}")
    print(f"  描述 description: {view['description']}")
    for event in view.get("history", []):
        at = local(datetime.fromisoformat(event["at"]))
        print(f"  {event['seq']:>3} {at} {event['actor']:<18} {event['action']:<18} {event['note'] or ''}")


def _case_detail(session: Session, number: str) -> dict[str, Any]:
    from models.commands import get_case
    from models.views import case_view

    session.expire_all()
    return case_view(get_case(session, number), detail=True)


def cmd_case_new(app: App, args: argparse.Namespace) -> None:
    from models.commands import patrol_case

    with app.db.write() as session:
        case = patrol_case(
            session,
            username=args.as_user,
            category_code=args.category,
            lat=args.lat,
            lon=args.lon,
            description=args.description,
            camera_id=args.camera,
            prefix=app.settings.city_prefix,
        )
        number = case.number
    with app.db.read() as session:
        view = _case_detail(session, number)
    emit(view) if args.json else _print_case(view)


def cmd_case_list(app: App, args: argparse.Namespace) -> None:
    from models.views import case_view

    with app.db.read() as session:
        stmt = (
            select(Case)
            .options(
                joinedload(Case.category),
                joinedload(Case.unit),
                joinedload(Case.responsible_unit),
                joinedload(Case.merged_into),
                joinedload(Case.routing_rule),
            )
            .order_by(Case.id.desc())
            .limit(args.limit)
        )
        if args.status:
            stmt = stmt.where(Case.state == args.status)
        if args.tier:
            stmt = stmt.where(Case.tier == args.tier)
        if args.unit:
            area = session.execute(select(AdminUnit).where(AdminUnit.code == args.unit)).scalar_one_or_none()
            if area is not None:
                stmt = stmt.where(Case.unit_path.startswith(area.path))
            else:
                unit = session.execute(
                    select(ResponsibleUnit).where(ResponsibleUnit.code == args.unit)
                ).scalar_one_or_none()
                if unit is None:
                    raise NotFound(f"没有单位 {args.unit}", f"no unit {args.unit} (see xueliang units)")
                stmt = stmt.where(Case.responsible_unit_id == unit.id)
        rows = [case_view(c) for c in session.execute(stmt).unique().scalars()]
    if args.json:
        emit(rows)
        return
    table(
        [
            (c["number"], c["state"], c["tier"], c["category_name"], c["unit_name"], c["responsible_unit"] or "")
            for c in rows
        ],
        ["number", "state", "tier", "类别", "地点", "unit"],
    )


def cmd_case_show(app: App, args: argparse.Namespace) -> None:
    with app.db.read() as session:
        view = _case_detail(session, args.number)
    emit(view) if args.json else _print_case(view)


def cmd_case_act(app: App, args: argparse.Namespace) -> None:
    from models.commands import ActParams, act

    params = ActParams(
        note=args.note,
        unit=args.unit,
        due=parse_time(args.due, "--due"),
        target=args.target,
        version=args.version,
    )
    with app.db.write() as session:
        act(session, args.number, args.action, args.as_user, params)
    with app.db.read() as session:
        view = _case_detail(session, args.number)
    emit(view) if args.json else _print_case(view)


# ---------------------------------------------------------------- time, statistics, audit


def cmd_sla_sweep(app: App, args: argparse.Namespace) -> None:
    from models.sla import run_sweep

    report = run_sweep(app.db, parse_time(args.now, "--now"))
    if args.json:
        emit(report.as_dict())
    else:
        print(", ".join(f"{k}={len(v)}" for k, v in report.as_dict().items()))


def cmd_stats(app: App, args: argparse.Namespace) -> None:
    from models.stats import statistics

    with app.db.read() as session:
        result = statistics(
            session,
            date_from=parse_day(args.date_from, "--from"),
            date_to=parse_day(args.date_to, "--to"),
            by=args.by,
        )
    if args.json:
        emit(result)
        return

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    print(
        f"结案率 closure rate: {pct(result['closure_rate'])}   "
        f"按期结案率 on-time: {pct(result['on_time_closure_rate'])}"
    )
    print(
        f"平均处置时长 avg handling: {result['avg_handling_hours'] or '—'} h   超期 overdue: {result['overdue']}"
        f"   返工 rework: {result['rework']}"
    )
    print("counts: " + ", ".join(f"{k}={v}" for k, v in result["counts"].items()))
    if result["by"]:
        table(
            [
                (
                    r["key"],
                    r["name"],
                    r["counts"]["total"],
                    r["counts"]["due"],
                    r["counts"]["closed"],
                    pct(r["closure_rate"]),
                    pct(r["on_time_closure_rate"]),
                    r["overdue"],
                )
                for r in result["by"]
            ],
            ["key", "名称", "total", "due", "closed", "结案率", "按期", "overdue"],
        )


def cmd_audit_verify(app: App, args: argparse.Namespace) -> None:
    from models.audit import verify_chains

    with app.db.read() as session:
        report = verify_chains(session)
    result = {
        "ok": report.ok,
        "cases": report.cases,
        "events": report.events,
        "broken": [{"case": b.case, "seq": b.seq, "reason": b.reason} for b in report.broken],
    }
    if args.json:
        emit(result)
    elif report.ok:
        print(f"audit ok: {report.cases} cases, {report.events} history rows, every chain intact")
    if not report.ok:
        first = report.broken[0]
        raise CliError(
            f"案卷历史被篡改 history tampered: case {first.case} row {first.seq}: {first.reason}"
            f" ({len(report.broken)} case(s) broken)",
            code=6,
        )


# ---------------------------------------------------------------- routing rules


def _rule_view(rule: Any) -> dict[str, Any]:
    return {
        "key": rule.key,
        "version": rule.version,
        "active": rule.active,
        "category": rule.category.code if rule.category else None,
        "area": rule.area.code if rule.area else None,
        "start_tier": rule.start_tier,
        "responsible_unit": rule.responsible_unit.code if rule.responsible_unit else None,
        "review_hours": {t: rule.review_hours(t) for t in ("village", "township", "city")},
        "ack_hours": rule.ack_hours,
        "rectify_hours": rule.rectify_hours,
        "rectify_working_days": rule.rectify_working_days,
        "calendar": rule.calendar,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat(),
    }


def cmd_rules_list(app: App, args: argparse.Namespace) -> None:
    from models.taxonomy import RoutingRule

    with app.db.read() as session:
        stmt = select(RoutingRule).order_by(RoutingRule.key, RoutingRule.version)
        if not args.all:
            stmt = stmt.where(RoutingRule.active.is_(True))
        rows = [_rule_view(r) for r in session.execute(stmt).scalars()]
    if args.json:
        emit(rows)
        return
    table(
        [
            (
                r["key"],
                r["version"],
                r["category"] or "*",
                r["start_tier"],
                r["responsible_unit"] or "(乡镇政府)",
                r["ack_hours"],
                (r["rectify_working_days"] and f"{r['rectify_working_days']}工作日") or f"{r['rectify_hours']}h",
            )
            for r in rows
        ],
        ["key", "v", "category", "start", "unit", "ack h", "rectify"],
    )


def cmd_rules_set(app: App, args: argparse.Namespace) -> None:
    from models.rules import edit_rule

    values: dict[str, Any] = {}
    if args.start_tier:
        values["start_tier"] = args.start_tier
    if args.review_hours is not None:
        values.update({f"review_hours_{t}": args.review_hours for t in ("village", "township", "city")})
    if args.ack_hours is not None:
        values["ack_hours"] = args.ack_hours
    if args.rectify_hours is not None:
        values["rectify_hours"] = args.rectify_hours
        values["rectify_working_days"] = None
    if args.rectify_days is not None:
        values["rectify_working_days"] = args.rectify_days
    if args.calendar:
        values["calendar"] = args.calendar
    with app.db.write() as session:
        if args.unit is not None:
            from models.routing import unit_by_code

            values["responsible_unit_id"] = unit_by_code(session, args.unit).id if args.unit else None
        if not values:
            raise ValidationError("没有要修改的内容", "nothing to change: give at least one option")
        rule = edit_rule(session, args.key, values, args.as_user)
        view = _rule_view(rule)
    emit(view) if args.json else print(f"rule {view['key']} is now version {view['version']}")


# ---------------------------------------------------------------- intake


def cmd_signal_list(app: App, args: argparse.Namespace) -> None:
    from models.views import signals_view

    with app.db.read() as session:
        rows = signals_view(session, args.source, args.limit)
    if args.json:
        emit(rows)
        return
    table(
        [
            (
                r["id"],
                r["source"],
                r["type"],
                r["state"],
                r["camera"] or r["camera_ref"],
                r["status"],
                r["case"] or r["suppressed_by"] or "",
            )
            for r in rows
        ],
        ["id", "source", "type", "state", "camera", "status", "case / suppressed by"],
    )


def cmd_import_hotline(app: App, args: argparse.Namespace) -> None:
    from pathlib import Path

    from integrations.hotline import format_report, import_hotline
    from integrations.secrets import PhoneVault

    try:
        report = import_hotline(app.db, Path(args.file), PhoneVault.from_settings(app.settings))
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        emit(report.to_dict())
    else:
        sys.stdout.write(format_report(report) + "\n")


def cmd_intake_run(app: App, args: argparse.Namespace) -> None:
    from flows.intake import drain

    report = drain(app.db, app.settings.city_prefix)
    result = {
        "processed": report.processed,
        "cases": report.cases,
        "attached": report.attached,
        "linked": report.linked,
        "suppressed": report.suppressed,
    }
    if args.json:
        emit(result)
    else:
        print(
            f"processed {report.processed}: {len(report.cases)} new cases, {report.attached} attached,"
            f" {report.linked} linked, suppressed {report.suppressed}"
        )


def cmd_intake_loop(app: App, args: argparse.Namespace) -> None:
    """The worker's low-latency intake loop alone, without Prefect (extra intake capacity, benchmarks)."""
    import signal as signals
    import threading

    from flows.intake import IntakeLoop

    loop = IntakeLoop(app.db, app.settings.city_prefix, idle=args.idle)
    done = threading.Event()
    signals.signal(signals.SIGTERM, lambda *_: done.set())
    loop.start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    loop.stop()
    loop.join(timeout=30)


def cmd_deadletter_list(app: App, args: argparse.Namespace) -> None:
    from models.cases import DeadLetter
    from models.views import iso

    with app.db.read() as session:
        rows = [
            {
                "id": d.id,
                "endpoint": d.endpoint,
                "content_type": d.content_type,
                "bytes": len(d.raw),
                "error": d.error,
                "received_at": iso(d.received_at),
                "replayed_at": iso(d.replayed_at),
                "replay_result": d.replay_result,
            }
            for d in session.execute(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(args.limit)).scalars()
        ]
    if args.json:
        emit(rows)
        return
    table(
        [(r["id"], r["endpoint"], r["bytes"], r["error"][:80], r["replay_result"] or "") for r in rows],
        ["id", "endpoint", "bytes", "error", "replay"],
    )


def cmd_deadletter_replay(app: App, args: argparse.Namespace) -> None:
    from integrations.cameras import ParseError
    from integrations.gateway import replay_dead_letter

    try:
        results = replay_dead_letter(app.db, args.id)
    except LookupError as exc:
        raise CliError(str(exc), 3) from exc
    except ParseError as exc:
        raise CliError(f"dead letter {args.id} is still unparseable: {exc}", 2) from exc
    emit({"signals": results}) if args.json else print(f"recorded: {results}")


def cmd_simulate(app: App, args: argparse.Namespace) -> None:
    import time

    import httpx

    from integrations.simulate import load_cameras, make_alarms

    cameras = load_cameras(app.db)
    if not cameras:
        raise CliError("no cameras registered: run `xueliang seed demo` first", 3)
    count = args.count or max(1, int(args.rate * args.duration))
    alarms = make_alarms(cameras, count, seed=args.seed, repeat_share=args.repeat)
    base = (args.url or app.settings.public_url).rstrip("/")
    sent = duplicates = failed = 0
    started = time.monotonic()
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {args.token or app.settings.demo_token}"}) as http:
        for i, alarm in enumerate(alarms):
            delay = started + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                answer = http.post(base + alarm.path, content=alarm.body, headers={"Content-Type": alarm.content_type})
            except httpx.HTTPError as exc:
                failed += 1
                print(f"{alarm.vendor}: {exc}", file=sys.stderr)
                continue
            if answer.status_code != 202:
                failed += 1
                print(f"{alarm.vendor}: HTTP {answer.status_code} {answer.text[:200]}", file=sys.stderr)
                continue
            sent += 1
            duplicates += sum(1 for s in answer.json()["signals"] if s["duplicate"])
    result = {"sent": sent, "duplicates": duplicates, "failed": failed, "seconds": round(time.monotonic() - started, 2)}
    emit(result) if args.json else print(", ".join(f"{k}={v}" for k, v in result.items()))
    if failed:
        raise CliError(f"{failed} alarm(s) were not accepted", 1)


def cmd_bench(app: App, args: argparse.Namespace) -> None:
    import importlib

    try:
        module = importlib.import_module(f"xueliang.bench_{args.what}")
    except ModuleNotFoundError as exc:
        raise CliError(f"bench {args.what} is not available yet ({exc.name})", 2) from exc
    kwargs: dict[str, Any] = {}
    if args.database:
        kwargs["backends"] = [args.database]
    if args.postgres_url:
        os.environ["XUELIANG_BENCH_POSTGRES_URL"] = args.postgres_url  # read by xueliang.benchkit.postgres_url
    if args.what == "stats" and args.cases:
        kwargs["cases"] = args.cases
    result = module.run(**kwargs) if args.what in ("intake", "stats") else module.run(app.settings)
    if args.json:
        emit(result)
    else:
        print(json.dumps(result["results"], ensure_ascii=False, indent=2))


# ---------------------------------------------------------------- services


def cmd_gateway(app: App, args: argparse.Namespace) -> None:
    from integrations.gateway import serve

    serve(app.settings, host=args.host, port=args.port, workers=args.workers)


def cmd_worker(app: App, args: argparse.Namespace) -> None:
    from flows.worker import serve_all

    serve_all(app.settings)


def cmd_ui(app: App, args: argparse.Namespace) -> None:
    from xueliang.launcher import run_ui

    sys.exit(run_ui(host=args.host, port=args.port))


def cmd_run(app: App, args: argparse.Namespace) -> None:
    from xueliang.launcher import run_all

    sys.exit(run_all(app.settings))


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xueliang", description="雪亮 Xueliang: cases from cameras, citizens, patrols"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        parent: Any, name: str, func: Callable[[App, argparse.Namespace], None], help_text: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="one JSON document on stdout")
        return p

    from xueliang.evidence_cli import register as register_evidence

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    add(db, "upgrade", cmd_db_upgrade, "migrate the configured database to the newest schema", json_flag=False)
    seed = sub.add_parser("seed", help="demo data").add_subparsers(dest="seed_command", required=True)
    seed_demo = add(seed, "demo", cmd_seed_demo, "idempotent Linyi-like demo")
    seed_demo.add_argument(
        "--cases", action="store_true", help="also open and work demo cases (only into an empty case table)"
    )
    add(sub, "units", cmd_units, "the administrative tree")
    add(sub, "categories", cmd_categories, "the problem taxonomy")
    add(sub, "users", cmd_users, "accounts with role and unit")
    add(sub, "cameras", cmd_cameras, "cameras with their place and unit")

    case = sub.add_parser("case", help="cases").add_subparsers(dest="case_command", required=True)
    p = add(case, "new", cmd_case_new, "a case raised by an inspector (video patrol)")
    p.add_argument("--category", required=True)
    p.add_argument("--lat", type=float, required=True)
    p.add_argument("--lon", type=float, required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--as", dest="as_user", required=True, metavar="USER")
    p.add_argument("--camera", type=int)
    p = add(case, "list", cmd_case_list, "cases, newest first")
    p.add_argument("--status")
    p.add_argument("--tier", choices=["village", "township", "city"])
    p.add_argument("--unit", help="an administrative unit code (cases placed inside it) or a responsible unit code")
    p.add_argument("--limit", type=int, default=1000)
    p = add(case, "show", cmd_case_show, "one case with its whole history and evidence")
    p.add_argument("number")
    p = add(case, "act", cmd_case_act, "perform a state-machine action exactly as the console would")
    p.add_argument("number")
    p.add_argument("action")
    p.add_argument("--as", dest="as_user", required=True, metavar="USER")
    p.add_argument("--note")
    p.add_argument("--unit")
    p.add_argument("--due", help="ISO time; without an offset it is Asia/Shanghai time")
    p.add_argument("--target")
    p.add_argument("--version", type=int)

    sla = sub.add_parser("sla", help="deadlines").add_subparsers(dest="sla_command", required=True)
    p = add(sla, "sweep", cmd_sla_sweep, "run the SLA sweep once")
    p.add_argument("--now", help="as if it were this ISO time")

    p = add(sub, "stats", cmd_stats, "closure rate, on-time closure rate, handling time, overdue, rework")
    p.add_argument("--from", dest="date_from")
    p.add_argument("--to", dest="date_to")
    p.add_argument(
        "--by", choices=["unit", "category", "tier", "day", "week", "month", "district", "township", "village"]
    )

    rules = sub.add_parser("rules", help="routing rules").add_subparsers(dest="rules_command", required=True)
    p = add(rules, "list", cmd_rules_list, "active routing rules (--all: every version)")
    p.add_argument("--all", action="store_true")
    p = add(rules, "set", cmd_rules_set, "edit a routing rule as an admin (a new version; cases keep theirs)")
    p.add_argument("key")
    p.add_argument("--as", dest="as_user", required=True, metavar="USER")
    p.add_argument("--start-tier", choices=["village", "township", "city"])
    p.add_argument("--review-hours", type=float)
    p.add_argument("--ack-hours", type=float)
    p.add_argument("--rectify-hours", type=float)
    p.add_argument("--rectify-days", type=int, help="working days")
    p.add_argument("--unit", help="responsible unit code ('' for the township government)")
    p.add_argument("--calendar", choices=["24x7", "working"])

    signal = sub.add_parser("signal", help="inbound signals").add_subparsers(dest="signal_command", required=True)
    p = add(signal, "list", cmd_signal_list, "received signals and the case or rule each ended in")
    p.add_argument("--source")
    p.add_argument("--limit", type=int, default=1000)
    imp = sub.add_parser("import", help="imports").add_subparsers(dest="import_command", required=True)
    p = add(imp, "hotline", cmd_import_hotline, "12345 hotline CSV/XLSX import with a per-row report")
    p.add_argument("file")
    intake_cmd = sub.add_parser("intake", help="signals into cases").add_subparsers(
        dest="intake_command", required=True
    )
    add(intake_cmd, "run", cmd_intake_run, "process every pending signal now (what the worker does continuously)")
    p = add(intake_cmd, "loop", cmd_intake_loop, "run the low-latency intake loop alone", json_flag=False)
    p.add_argument("--idle", type=float, default=0.2, help="seconds to wait when nothing is pending")
    dead = sub.add_parser("deadletter", help="bodies that could not be understood").add_subparsers(
        dest="deadletter_command", required=True
    )
    p = add(dead, "list", cmd_deadletter_list, "kept bodies with the error each got")
    p.add_argument("--limit", type=int, default=100)
    p = add(dead, "replay", cmd_deadletter_replay, "parse a kept body again and record its signals")
    p.add_argument("id", type=int)

    audit = sub.add_parser("audit", help="history integrity").add_subparsers(dest="audit_command", required=True)
    add(audit, "verify", cmd_audit_verify, "check the hash chain of every case history")

    p = add(sub, "simulate", cmd_simulate, "post realistic camera alarms to the gateway (the demo's live traffic)")
    p.add_argument("--url", help="gateway base URL (default XUELIANG_PUBLIC_URL)")
    p.add_argument("--rate", type=float, default=2.0, help="alarms per second")
    p.add_argument("--duration", type=float, default=30.0, help="seconds (when --count is not given)")
    p.add_argument("--count", type=int)
    p.add_argument("--repeat", type=float, default=0.3, help="share of alarms from a few busy cameras")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--token")
    register_evidence(sub, add)
    p = add(sub, "bench", cmd_bench, "benchmarks: JSON figures with the machine and the inputs named")
    p.add_argument("what", choices=["intake", "evidence", "sms", "stats"])
    p.add_argument("--database", choices=["sqlite", "postgresql"], help="only this database (intake, stats)")
    p.add_argument("--postgres-url", help="the PostgreSQL server to make scratch databases on (intake, stats)")
    p.add_argument("--cases", type=int, help="cases to seed (stats; default 1,000,000)")
    p = add(sub, "gateway", cmd_gateway, "the inbound HTTP service", json_flag=False)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="processes (each with its own connection pool)")
    add(sub, "worker", cmd_worker, "the Prefect deployments and the intake loop", json_flag=False)
    p = add(sub, "ui", cmd_ui, "the Streamlit console", json_flag=False)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    add(sub, "run", cmd_run, "everything, for the embedded default", json_flag=False)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    app = App()
    try:
        args.func(app, args)
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.code)
    except (OperationalError, ProgrammingError) as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(
            f"error: database: {first} — is XUELIANG_DATABASE_URL right and migrated? run `xueliang db upgrade`",
            file=sys.stderr,
        )
        sys.exit(7)
    finally:
        app.close()


if __name__ == "__main__":
    main()
