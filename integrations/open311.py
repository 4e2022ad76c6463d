"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2/) on the gateway: citizens' apps list the services
(our problem categories), post reports and follow them.

A POST records a citizen signal and answers at once with a token (the signal id); the worker turns signals into
cases asynchronously, and GET tokens/{token} then names the case number, which is the service_request_id of
GET requests. Every response comes as JSON or XML after the path suffix, errors in the spec's error format.
Requests show public problems, every source included, and never personal data: reporters' phones are sealed,
their names and e-mails masked, the raw body encrypted, and phone/ID numbers typed into texts are blanked.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool

from integrations.hotline import PlaceIndex, domestic_phone, mask_email, mask_name
from integrations.secrets import PhoneVault
from models.cases import END_STATES, OPEN_STATES, Case, CaseEvent, Signal
from models.commands import LOCAL_TZ
from models.db import Database, utcnow
from models.errors import ValidationError
from models.intake import record_signal
from models.org import AdminUnit, ApiClient
from models.routing import DEFAULT_HOURS, find_rule
from models.settings import Settings
from models.taxonomy import Category

__all__ = ["open311_router"]

PREFIX = "/open311/v2"
FORMATS = ("json", "xml")
# We answer a POST with a token before the case exists, which the spec calls a "batch" service ("realtime"
# services return the service_request_id at once).
SERVICE_TYPE = "batch"
MAX_BODY = 64 * 1024
MAX_DESCRIPTION = 4000
MAX_RESULTS = 1000  # the spec's default query limit: 90 days or the first 1000 requests
DEFAULT_SPAN = timedelta(days=90)
XML_LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}
KIND_NAMES = {"component": "部件", "event": "事件"}

# Every service takes the same two optional attributes: enough to triage, nothing personal.
ATTRIBUTES: tuple[dict[str, Any], ...] = (
    {
        "variable": True,
        "code": "hazard",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": None,
        "order": 1,
        "description": "是否危及人身安全？ / Is anyone in danger because of it?",
        "values": [{"key": "yes", "name": "是 / yes"}, {"key": "no", "name": "否 / no"}],
    },
    {
        "variable": True,
        "code": "photo_note",
        "datatype": "string",
        "required": False,
        "datatype_description": "最多 200 字 / up to 200 characters",
        "order": 2,
        "description": "照片拍的是什么、从哪个方向拍的 / What the photo shows and from where it was taken",
        "values": [],
    },
)
ATTRIBUTE_CODES = {a["code"]: a for a in ATTRIBUTES}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SECRETS_IN_TEXT = (
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), "[证件号已隐去]"),  # resident identity card number
    (re.compile(r"(?<![\d+])(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)"), "[电话已隐去]"),  # mobile
    (re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"), "[电话已隐去]"),  # landline with area code
)


# ------------------------------------------------------------------------------------------------ rendering


class Open311Error(Exception):
    """One or more spec errors with the HTTP status they share."""

    def __init__(self, status: int, *errors: str) -> None:
        super().__init__("; ".join(errors))
        self.status = status
        self.errors = errors


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _xml_element(tag: str, value: Any) -> ElementTree.Element:
    element = ElementTree.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            element.append(_xml_element(key, item))
    elif isinstance(value, list | tuple):
        child = XML_LIST_ITEMS.get(tag, "item")
        for item in value:
            element.append(_xml_element(child, item))
    else:
        element.text = _xml_text(value)
    return element


def render(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    """JSON as the spec's examples (a list, or an object for a service definition), or XML under `root`."""
    if fmt == "xml":
        body = ElementTree.tostring(_xml_element(root, data), encoding="unicode")
        return Response(
            '<?xml version="1.0" encoding="utf-8"?>\n' + body,
            status_code=status,
            media_type="text/xml; charset=utf-8",
        )
    return Response(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type="application/json; charset=utf-8",
    )


def error_response(fmt: str, status: int, *descriptions: str) -> Response:
    errors = [{"code": status, "description": d} for d in descriptions]
    return render(fmt if fmt in FORMATS else "json", "errors", errors, status)


# ------------------------------------------------------------------------------------------------ helpers


def local_iso(value: datetime | None) -> str | None:
    """W3C/ISO 8601 with the +08:00 offset of Asia/Shanghai, whole seconds."""
    return value.astimezone(LOCAL_TZ).isoformat(timespec="seconds") if value is not None else None


def public_text(text: str | None) -> str | None:
    """A text for the public: identity-card and phone numbers someone typed into it are blanked."""
    if text is None:
        return None
    for pattern, replacement in _SECRETS_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def parse_datetime(name: str, value: str) -> datetime:
    text = value.strip()
    if "T" in text:  # an unencoded "+08:00" in a query string arrives as " 08:00"
        text = text.replace(" ", "+")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Open311Error(400, f"{name}: not a W3C/ISO 8601 datetime such as 2026-11-25T00:00:00Z: {value!r}") from exc
    return parsed.replace(tzinfo=LOCAL_TZ) if parsed.tzinfo is None else parsed


def full_name(first: str | None, last: str | None) -> str:
    """'john' 'smith' -> 'john smith'; Chinese names are written family name first: '三' '张' -> '张三'."""
    if first and last and re.fullmatch(r"[\u3400-\u9fff\u00b7]+", first + last):
        return last + first
    return " ".join(p for p in (first, last) if p)


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _client(session: Session, api_key: str | None) -> ApiClient:
    if not api_key:
        raise Open311Error(403, "api_key: missing -- can't proceed with create_request.")
    digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
    client = session.execute(select(ApiClient).where(ApiClient.key_digest == digest)).scalar_one_or_none()
    if client is None or not client.active:
        raise Open311Error(403, "api_key: invalid api_key received -- can't proceed with create_request.")
    return client


def _category(session: Session, code: str) -> Category | None:
    category = session.execute(select(Category).where(Category.code == code.strip().upper())).scalar_one_or_none()
    return category if category is not None and category.active else None


def _hours(value: float) -> str:
    return f"{value:g}"


def service_view(category: Category) -> dict[str, Any]:
    keywords = [category.name, category.name_en, category.major_name, KIND_NAMES.get(category.kind, category.kind)]
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.name_en,
        "metadata": bool(ATTRIBUTES),
        "type": SERVICE_TYPE,
        "keywords": ", ".join(k for k in keywords if k),
        "group": category.major_name,
    }


# ------------------------------------------------------------------------------------------------ POST parsing


@dataclass
class Submission:
    """A POST requests body, form-encoded per the spec or JSON, as plain strings (attributes: code -> values)."""

    values: dict[str, str]
    attributes: dict[str, list[str]]

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value.strip() if value is not None and value.strip() else None


_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\]]+)\](?:\[\])?$")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_submission(body: bytes, content_type: str, query: Sequence[tuple[str, str]]) -> Submission:
    values: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    pairs: list[tuple[str, Any]] = []
    if "json" in content_type.lower():
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Open311Error(400, f"body: not valid UTF-8 JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise Open311Error(400, "body: a JSON object of the spec's fields is expected")
        for key, value in document.items():
            if key == "attribute" and isinstance(value, dict):
                for code, item in value.items():
                    items = item if isinstance(item, list) else [item]
                    attributes.setdefault(str(code), []).extend(_scalar(v) for v in items)
            else:
                pairs.append((str(key), value))
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Open311Error(400, "body: not UTF-8 (the spec requires UTF-8 everywhere)") from exc
        pairs.extend(parse_qsl(text, keep_blank_values=True))
    for key, value in pairs:
        match = _ATTRIBUTE_KEY.match(key)
        if match:
            attributes.setdefault(match.group(1), []).append(_scalar(value))
        elif key not in values:
            values[key] = _scalar(value)
    for key, value in query:  # some clients send api_key (or more) in the query string
        values.setdefault(key, value)
    return Submission(values, attributes)


def _float(name: str, value: str, low: float, high: float, errors: list[str]) -> float | None:
    try:
        number = float(value)
    except ValueError:
        errors.append(f"{name}: not a number: {value!r}")
        return None
    if not math.isfinite(number) or not (low <= number <= high):
        errors.append(f"{name}: out of range [{low:g}, {high:g}]: {value!r}")
        return None
    return number


def _report(form: Submission, vault: PhoneVault) -> tuple[dict[str, Any], list[Any]]:
    """The signal fields of a submission (with an "errors" list, empty when it is valid) and what identifies the
    report for idempotency besides the client and the service code."""
    errors: list[str] = []
    lat_text, lon_text = form.get("lat"), form.get("long") or form.get("lon")
    lat = lon = None
    if lat_text is not None or lon_text is not None:
        if lat_text is None or lon_text is None:
            errors.append("lat/long: both are needed when either is sent")
        else:
            lat = _float("lat", lat_text, -90, 90, errors)
            lon = _float("long", lon_text, -180, 180, errors)
    address, address_id = form.get("address_string"), form.get("address_id")
    if lat_text is None and lon_text is None and address is None and address_id is None:
        errors.append("location: one of lat & long, address_string or address_id is required")
    description = form.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        errors.append(f"description: longer than {MAX_DESCRIPTION} characters")
    media_url = form.get("media_url")
    if media_url is not None and (not re.match(r"^https?://\S+$", media_url) or len(media_url) > 500):
        errors.append("media_url: an http(s) URL of at most 500 characters is expected")
    email = form.get("email")
    if email is not None and not _EMAIL.match(email):
        errors.append("email: not an e-mail address")
    phone = form.get("phone")
    sealed = None
    if phone is not None:
        try:
            sealed = vault.seal(domestic_phone(phone))
        except ValidationError as exc:
            errors.append(f"phone: {exc.en}")
    attributes: dict[str, Any] = {}
    for code, items in form.attributes.items():
        spec = ATTRIBUTE_CODES.get(code)
        value = items[-1].strip() if items else ""
        if spec is None or not value:
            continue  # empty is "not sent"; another city's attribute is kept only in the sealed raw body
        if spec["datatype"] == "singlevaluelist" and value not in {v["key"] for v in spec["values"]}:
            errors.append(f"attribute[{code}]: one of {', '.join(v['key'] for v in spec['values'])}")
        else:
            attributes[code] = value[:200]
    fields: dict[str, Any] = {
        "category": None,
        "lat": lat,
        "lon": lon,
        "address": address,
        "address_id": address_id,
        "description": description,
        "media_url": media_url,
        "unit": None,
        "attributes": attributes,
        "client": None,
        "reporter": {
            "phone_sealed": sealed.sealed if sealed else None,
            "phone_masked": sealed.masked if sealed else None,
            "phone_digest": sealed.digest if sealed else None,
            "name_masked": mask_name(full_name(form.get("first_name"), form.get("last_name"))),
            "email_masked": mask_email(email),
        },
        "errors": errors,
    }
    identity = [
        form.get("device_id"),
        form.get("account_id"),
        email,
        sealed.digest if sealed else None,
        lat,
        lon,
        address,
        address_id,
        description,
    ]
    return fields, identity


# ------------------------------------------------------------------------------------------------ the router


def open311_router(db: Database, settings: Settings, vault: PhoneVault) -> APIRouter:
    """The GeoReport v2 endpoints under /open311/v2 (single jurisdiction: jurisdiction_id is ignored)."""
    router = APIRouter(prefix=PREFIX, tags=["open311"])
    del settings  # nothing to configure yet (one jurisdiction; keys live in the ApiClient table)

    def guard(fmt: str, action: Any, *args: Any) -> Response:
        if fmt not in FORMATS:
            return error_response("json", 404, f"format: {fmt!r} is not served; use .json or .xml")
        try:
            return action(fmt, *args)
        except Open311Error as exc:
            return error_response(fmt, exc.status, *exc.errors)

    # ---------------------------------------------------------------- services

    def services(fmt: str) -> Response:
        with db.read() as session:
            categories = session.execute(
                select(Category).where(Category.active.is_(True)).order_by(Category.code)
            ).scalars()
            return render(fmt, "services", [service_view(c) for c in categories])

    def definition(fmt: str, code: str) -> Response:
        with db.read() as session:
            category = _category(session, code)
            if category is None:
                raise Open311Error(404, f"service_code: {code!r} not found")
            return render(
                fmt,
                "service_definition",
                {"service_code": category.code, "attributes": [dict(a) for a in ATTRIBUTES]},
            )

    @router.get("/services.{fmt}")
    def get_services(fmt: str) -> Response:
        return guard(fmt, services)

    @router.get("/services/{code}.{fmt}")
    def get_service_definition(code: str, fmt: str) -> Response:
        return guard(fmt, definition, code)

    # ---------------------------------------------------------------- POST requests

    def service_notice(session: Session, category: Category) -> str:
        root = session.execute(select(AdminUnit).where(AdminUnit.parent_id.is_(None)).limit(1)).scalars().first()
        rule = find_rule(session, category, root) if root is not None else None
        hours = _hours(rule.rectify_hours if rule is not None else DEFAULT_HOURS["rectify"])
        return (
            f"已受理：经综治中心审核后派遣责任单位处置，处置时限一般为 {hours} 小时；可凭 token 查询案卷编号。"
            f" / Received: after review it is dispatched to the responsible unit, to be fixed within {hours} hours"
            " as a rule; use the token to look up the case number."
        )

    def create(fmt: str, body: bytes, content_type: str, query: Sequence[tuple[str, str]]) -> Response:
        if len(body) > MAX_BODY:
            raise Open311Error(413, f"body: larger than {MAX_BODY} bytes")
        form = parse_submission(body, content_type, query)
        with db.read() as session:  # check everything first: the write transaction only records
            client = _client(session, form.get("api_key"))
            code = form.get("service_code")
            category = _category(session, code) if code else None
            fields, identity = _report(form, vault)
            if code is None:
                fields["errors"].append("service_code: missing (see services.json)")
            unknown = f"service_code: {code!r} not found (see services.json)" if code and category is None else None
            if fields["errors"]:
                raise Open311Error(400, *fields["errors"], *([unknown] if unknown else []))
            if unknown or category is None:
                raise Open311Error(404, unknown or "service_code: not found")
            del fields["errors"]
            fields["category"] = category.code
            fields["client"] = client.name
            if fields["lat"] is None and fields["address"]:
                fields["unit"] = PlaceIndex.load(session).match(fields["address"])
            notice = service_notice(session, category)
        identity = [client.name, category.code, *identity]
        key = "open311:" + hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode("utf-8")).hexdigest()
        now = utcnow()
        with db.write() as session:
            recorded = record_signal(
                session,
                source="open311",
                type_="citizen_report",
                state="active",
                camera_ref=None,
                device_time=now,
                time_flagged=False,
                external_id=None,
                fields=fields,
                raw=vault.seal_bytes(body),
                content_type="sealed;" + (content_type or "application/x-www-form-urlencoded"),
                received_at=now,
                key=key,
            )
        return render(
            fmt,
            "service_requests",
            [{"token": str(recorded.id), "service_notice": notice, "account_id": None}],
        )

    @router.post("/requests.{fmt}")
    async def post_request(fmt: str, request: Request) -> Response:
        if fmt not in FORMATS:
            return error_response("json", 404, f"format: {fmt!r} is not served; use .json or .xml")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY:
            return error_response(fmt, 413, f"body: larger than {MAX_BODY} bytes")
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        query = list(request.query_params.multi_items())
        return await run_in_threadpool(guard, fmt, create, body, content_type, query)

    # ---------------------------------------------------------------- GET requests

    def request_views(session: Session, cases: Sequence[Case]) -> list[dict[str, Any]]:
        ids = [c.id for c in cases]
        notes: dict[int, str] = {}
        if ids:
            last = (
                select(CaseEvent.case_id, func.max(CaseEvent.seq).label("seq"))
                .where(
                    CaseEvent.case_id.in_(ids),
                    CaseEvent.action != "create",  # its note is the description itself
                    CaseEvent.note.is_not(None),
                    CaseEvent.note != "",
                )
                .group_by(CaseEvent.case_id)
                .subquery()
            )
            rows = session.execute(
                select(CaseEvent.case_id, CaseEvent.note).join(
                    last, and_(CaseEvent.case_id == last.c.case_id, CaseEvent.seq == last.c.seq)
                )
            ).all()
            notes = {case_id: note for case_id, note in rows}
        units = {u.id: u for u in session.execute(select(AdminUnit)).scalars()}
        return [request_view(c, notes.get(c.id), units) for c in cases]

    def place_name(case: Case, units: dict[int, AdminUnit]) -> str:
        names = [units[int(i)].name for i in case.unit_path.strip("/").split("/") if i and int(i) in units]
        return "".join(names[1:] if len(names) > 1 else names)

    def request_view(case: Case, note: str | None, units: dict[int, AdminUnit]) -> dict[str, Any]:
        closed = case.state in {s.value for s in END_STATES}
        hours = case.routing_rule.rectify_hours if case.routing_rule is not None else DEFAULT_HOURS["rectify"]
        return {
            "service_request_id": case.number,
            "status": "closed" if closed else "open",
            "status_notes": public_text(note),
            "service_name": case.category.name,
            "service_code": case.category.code,
            "description": public_text(case.description) or None,
            "agency_responsible": case.responsible_unit.name if case.responsible_unit is not None else None,
            "service_notice": f"处置时限 {_hours(hours)} 小时 / to be fixed within {_hours(hours)} hours",
            "requested_datetime": local_iso(case.created_at),
            "updated_datetime": local_iso(case.closed_at if closed and case.closed_at else case.updated_at),
            "expected_datetime": local_iso(case.rectify_due),
            "address": public_text(case.address) or place_name(case, units),
            "address_id": case.unit.code,
            "zipcode": None,
            "lat": case.lat,
            "long": case.lon,
            "media_url": None,
        }

    def case_query() -> Any:
        return select(Case).options(
            selectinload(Case.category),
            selectinload(Case.unit),
            selectinload(Case.responsible_unit),
            selectinload(Case.routing_rule),
        )

    def list_requests(fmt: str, params: dict[str, str]) -> Response:
        stmt = case_query()
        ids = _csv(params.get("service_request_id"))
        if ids:
            stmt = stmt.where(Case.number.in_(ids[:MAX_RESULTS]))
        else:
            start_text, end_text = params.get("start_date"), params.get("end_date")
            start = parse_datetime("start_date", start_text) if start_text else None
            end = parse_datetime("end_date", end_text) if end_text else None
            if start is None and end is None:
                end = utcnow()
            if start is None:
                assert end is not None
                start = end - DEFAULT_SPAN
            if end is None:
                end = start + DEFAULT_SPAN
            if end < start:
                raise Open311Error(400, "start_date/end_date: end_date is before start_date")
            if end - start > DEFAULT_SPAN:
                raise Open311Error(400, "start_date/end_date: the range may not span more than 90 days")
            stmt = stmt.where(Case.created_at >= start, Case.created_at <= end)
            codes = [c.upper() for c in _csv(params.get("service_code"))]
            if codes:
                stmt = stmt.join(Category, Category.id == Case.category_id).where(Category.code.in_(codes))
            statuses = set(_csv(params.get("status")))
            if statuses - {"open", "closed"}:
                raise Open311Error(400, f"status: open or closed, comma separated, not {params.get('status')!r}")
            if statuses == {"open"}:
                stmt = stmt.where(Case.state.in_([s.value for s in OPEN_STATES]))
            elif statuses == {"closed"}:
                stmt = stmt.where(Case.state.in_([s.value for s in END_STATES]))
        stmt = stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(MAX_RESULTS)
        with db.read() as session:
            cases = session.execute(stmt).scalars().all()
            return render(fmt, "service_requests", request_views(session, cases))

    def one_request(fmt: str, number: str) -> Response:
        with db.read() as session:
            case = session.execute(case_query().where(Case.number == number)).scalar_one_or_none()
            if case is None:
                raise Open311Error(404, f"service_request_id: {number!r} not found")
            return render(fmt, "service_requests", request_views(session, [case]))

    def token_lookup(fmt: str, token: str) -> Response:
        signal_id = int(token) if token.isdigit() and len(token) < 19 else None
        with db.read() as session:
            signal = session.get(Signal, signal_id) if signal_id is not None else None
            if signal is None or signal.source != "open311":
                raise Open311Error(404, f"token: {token!r} not found")
            number = session.execute(select(Case.number).where(Case.id == signal.case_id)).scalar_one_or_none()
        item: dict[str, Any] = {"service_request_id": number, "token": token} if number else {"token": token}
        return render(fmt, "service_requests", [item])

    @router.get("/requests.{fmt}")
    def get_requests(fmt: str, request: Request) -> Response:
        return guard(fmt, list_requests, dict(request.query_params))

    @router.get("/requests/{number}.{fmt}")
    def get_request(number: str, fmt: str) -> Response:
        return guard(fmt, one_request, number)

    @router.get("/tokens/{token}.{fmt}")
    def get_token(token: str, fmt: str) -> Response:
        return guard(fmt, token_lookup, token)

    return router
