"""Open311 GeoReport v2: the spec's own examples round-trip through our endpoints (same keys, same XML elements,
same error shape), a report becomes a case through the intake, retries are recognised, and no personal data is
stored in the clear or shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrations.open311 import open311_router
from integrations.secrets import PhoneVault
from models import seed_data as data
from models.cases import Case, Signal
from models.db import Database
from models.intake import process_batch
from models.org import AdminUnit
from models.settings import Settings
from tests.conftest import needs_fixtures

VAULT = PhoneVault("test-secret-key-not-for-production")
API_KEY = "demo-open311-key"
BASE = "/open311/v2"
PHONE = "13800138000"


@pytest.fixture
def api(demo: Database) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(open311_router(demo, Settings.load(), VAULT))
    with TestClient(app) as client:
        yield client


# ------------------------------------------------------------------------------------------------ spec loaders


def spec_text(name: str) -> tuple[int | None, str]:
    """A spec example with its leading "HTTP/1.1 403 Forbidden" line (if any) taken off, and that status."""
    text = needs_fixtures("open311", name).read_text(encoding="utf-8")
    status = None
    if text.startswith("HTTP/"):
        line, _, text = text.partition("\n")
        status = int(line.split()[1])
    return status, text.strip()


def spec_json(name: str) -> Any:
    """Tolerant: the examples write numbers with leading zeros (001), which strict JSON forbids."""
    _, text = spec_text(name)
    return json.loads(re.sub(r"(:\s*)(-?0\d+)(?=\s*[,}\]])", r'\1"\2"', text))


def spec_xml(name: str) -> ElementTree.Element:
    _, text = spec_text(name)
    return ElementTree.fromstring(text.encode("utf-8"))


def spec_post() -> tuple[str, str, dict[str, str], str]:
    """The example HTTP message: request line, headers, form body."""
    _, text = spec_text("spec_post_request_example.http")
    head, _, body = text.partition("\n\n")
    request_line, *header_lines = head.splitlines()
    method, target = request_line.split()[:2]
    headers = dict(line.split(": ", 1) for line in header_lines if line.strip())
    return method, target, headers, body.strip()


def json_keysets(value: Any, path: str = "$", out: dict[str, list[frozenset[str]]] | None = None) -> dict:
    """Every object's set of keys, by its path in the document."""
    out = {} if out is None else out
    if isinstance(value, dict):
        out.setdefault(path, []).append(frozenset(value))
        for key, item in value.items():
            json_keysets(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        for item in value:
            json_keysets(item, f"{path}[]", out)
    return out


def assert_json_like(ours: Any, spec: Any, rename: dict[str, str] | None = None) -> None:
    """Same container type, and every object has exactly the keys the spec's objects have at that place."""
    assert type(ours) is type(spec)
    rename = rename or {}
    expected = {}
    for path, sets in json_keysets(spec).items():
        assert len(set(sets)) == 1, f"the spec's own objects disagree at {path}"
        expected[path] = frozenset(rename.get(k, k) for k in sets[0])
    got = json_keysets(ours)
    assert set(got) == set(expected)
    for path, sets in got.items():
        for keys in sets:
            assert keys == expected[path], path


def xml_childsets(element: ElementTree.Element, path: str = "", out: dict | None = None) -> dict:
    """The set of child element names of every element that has children, by path."""
    out = {} if out is None else out
    path = f"{path}/{element.tag}"
    children = list(element)
    if children:
        out.setdefault(path, []).append(frozenset(c.tag for c in children))
        for child in children:
            xml_childsets(child, path, out)
    return out


def assert_xml_like(body: str, spec: ElementTree.Element, rename: dict[str, str] | None = None) -> ElementTree.Element:
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
    ours = ElementTree.fromstring(body.encode("utf-8"))
    assert ours.tag == spec.tag
    rename = rename or {}
    expected = {}
    for path, sets in xml_childsets(spec).items():
        assert len(set(sets)) == 1, f"the spec's own elements disagree at {path}"
        expected[path] = frozenset(rename.get(t, t) for t in sets[0])
    got = xml_childsets(ours)
    assert set(got) == set(expected)
    for path, sets in got.items():
        for tags in sets:
            assert tags == expected[path], path
    return ours


# ------------------------------------------------------------------------------------------------ helpers


def village(demo: Database, code: str = data.DEMO_VILLAGE) -> tuple[float, float]:
    with demo.read() as s:
        unit = s.execute(select(AdminUnit).where(AdminUnit.code == code)).scalar_one()
        assert unit.lat is not None and unit.lon is not None
        return unit.lat, unit.lon


def process(demo: Database) -> None:
    with demo.write() as s:
        process_batch(s, now=datetime.now(UTC))


def report_json(lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    body = {
        "api_key": API_KEY,
        "service_code": "E0101",
        "lat": lat,
        "long": lon,
        "address_string": "兰山街道兰山第一社区幸福路 12 号",
        "description": "路口堆放生活垃圾三天无人清理，知情人电话 13900001111",
        "device_id": "phone-A",
        "phone": PHONE,
        "first_name": "三",
        "last_name": "张",
        "email": "zhangsan@example.cn",
        "attribute": {"hazard": "no", "photo_note": "从路口东侧拍摄"},
    }
    body.update(extra)
    return body


def post_json(api: TestClient, body: dict[str, Any], fmt: str = "json") -> Any:
    response = api.post(f"{BASE}/requests.{fmt}", json=body)
    assert response.status_code == 200, response.text
    return response


# ------------------------------------------------------------------------------------------------ (a) POST


def test_the_specs_post_example_round_trips(api: TestClient, demo: Database) -> None:
    method, target, headers, body = spec_post()
    assert method == "POST" and target.endswith("/requests.xml")
    path = f"{BASE}/{target.rsplit('/', 1)[1]}"
    # Our city has no service 001: a sinkhole is our 路面塌陷 (E0402). Every other field is the spec's.
    body = body.replace("service_code=001", "service_code=E0402")
    sent = dict(parse_qsl(body))

    # As written, the example carries the api_key "xyz": refused exactly like the spec's error example.
    refused = api.post(path, content=body.encode(), headers=headers)
    status, _ = spec_text("spec_xml-errors.xml")
    assert refused.status_code == status == 403
    assert_xml_like(refused.text, spec_xml("spec_xml-errors.xml"))
    with demo.read() as s:
        assert s.execute(select(Signal)).first() is None

    body = body.replace("api_key=xyz", f"api_key={API_KEY}")
    answer = api.post(path, content=body.encode(), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    # We answer before the case exists, with a token: the spec's "token instead of service_request_id".
    token_rename = {"service_request_id": "token"}
    xml = assert_xml_like(answer.text, spec_xml("spec_xml-service-request-post.xml"), token_rename)
    token = xml.findtext("request/token")
    assert token and token.isdigit()
    assert xml.findtext("request/service_notice")

    # The same report again (a retry), this time asking for JSON: recognised, same token.
    again = api.post(f"{BASE}/requests.json", content=body.encode(), headers=headers)
    assert again.status_code == 200
    assert_json_like(again.json(), spec_json("spec_json-service-request-post.json"), token_rename)
    assert again.json()[0]["token"] == token
    assert again.json()[0]["account_id"] is None

    with demo.read() as s:
        signals = s.execute(select(Signal)).scalars().all()
    assert len(signals) == 1
    signal = signals[0]
    assert (signal.source, signal.type, signal.state, signal.time_flagged) == (
        "open311",
        "citizen_report",
        "active",
        False,
    )
    fields = signal.fields
    assert fields["category"] == "E0402"
    assert fields["lat"] == pytest.approx(float(sent["lat"])) and fields["lon"] == pytest.approx(float(sent["long"]))
    assert fields["address"] == sent["address_string"] == "1234 5th street"
    assert fields["description"] == sent["description"]
    assert fields["media_url"] == sent["media_url"]
    assert fields["reporter"]["name_masked"] == "j*** s****"
    assert fields["reporter"]["email_masked"] == "s***@sfgov.edu"
    assert fields["reporter"]["phone_masked"].endswith("11") and "*" in fields["reporter"]["phone_masked"]
    assert VAULT.open(fields["reporter"]["phone_sealed"]) == "+111111111"
    # The raw body is kept, sealed: readable with the key, and nothing personal in the clear.
    assert VAULT.open_bytes(signal.raw) == body.encode()
    assert signal.content_type == "sealed;" + headers["Content-Type"]
    stored = json.dumps(fields, ensure_ascii=False).encode() + signal.raw
    for secret in (b"111111111", b"smit333", b"john", b"smith", b"tt222111", b"123456"):
        assert secret not in stored, secret

    # Not processed yet: the token answers with the token only.
    assert api.get(f"{BASE}/tokens/{token}.json").json() == [{"token": token}]


def test_a_report_outside_the_jurisdiction_is_suppressed_not_fatal(api: TestClient, demo: Database) -> None:
    body = {"api_key": API_KEY, "service_code": "E0402", "lat": 37.76524078, "long": -122.4212043}
    token = post_json(api, body).json()[0]["token"]
    process(demo)
    with demo.read() as s:
        signal = s.get(Signal, int(token))
        assert signal is not None and signal.status == "suppressed"
        assert signal.suppressed_by == "outside_jurisdiction"
    assert api.get(f"{BASE}/tokens/{token}.json").json() == [{"token": token}]


# ------------------------------------------------------------------------------------------------ (b) GET


def test_services_match_the_spec_examples(api: TestClient) -> None:
    services = api.get(f"{BASE}/services.json")
    assert services.status_code == 200
    assert services.headers["content-type"] == "application/json; charset=utf-8"
    listed = services.json()
    assert_json_like(listed, spec_json("spec_json-service-list.json"))
    by_code = {s["service_code"]: s for s in listed}
    assert by_code["E0201"]["service_name"] == "非法小广告"
    assert by_code["E0201"]["description"] == "Illegal small advertisements"
    assert by_code["E0201"]["group"] == "宣传广告"
    assert by_code["E0201"]["metadata"] is True
    assert by_code["E0201"]["type"] in {"realtime", "batch", "blackbox"}
    assert "非法小广告" in by_code["E0201"]["keywords"]
    assert len(listed) == len(data.CATEGORIES)

    xml = api.get(f"{BASE}/services.xml")
    assert xml.headers["content-type"] == "text/xml; charset=utf-8"
    root = assert_xml_like(xml.text, spec_xml("spec_xml-service-list.xml"))
    assert {e.findtext("service_code") for e in root} == set(by_code)
    assert root.find("service/metadata").text == "true"

    definition = api.get(f"{BASE}/services/E0201.json")
    assert definition.status_code == 200
    assert_json_like(definition.json(), spec_json("spec_json-service-definition.json"))
    assert definition.json()["service_code"] == "E0201"
    xml = api.get(f"{BASE}/services/E0201.xml")
    assert_xml_like(xml.text, spec_xml("spec_xml-service-definition.xml"))


def test_a_report_becomes_a_case_and_a_second_nearby_report_is_linked(api: TestClient, demo: Database) -> None:
    lat, lon = village(demo)
    first = post_json(api, report_json(lat, lon)).json()
    token = first[0]["token"]
    assert api.get(f"{BASE}/tokens/{token}.json").json() == [{"token": token}]  # not processed yet

    process(demo)
    answer = api.get(f"{BASE}/tokens/{token}.json")
    assert_json_like(answer.json(), spec_json("spec_json-request-from-token.json"))
    number = answer.json()[0]["service_request_id"]
    assert number.startswith("LY-") and answer.json()[0]["token"] == token
    xml = api.get(f"{BASE}/tokens/{token}.xml")
    assert assert_xml_like(xml.text, spec_xml("spec_xml-request-from-token.xml")).findtext("request/token") == token

    one = api.get(f"{BASE}/requests/{number}.json")
    assert one.status_code == 200
    assert_json_like(one.json(), spec_json("spec_json-service-request.json"))
    item = one.json()[0]
    assert item["service_request_id"] == number
    assert item["status"] == "open"
    assert (item["service_code"], item["service_name"]) == ("E0101", "暴露垃圾")
    assert item["lat"] == pytest.approx(lat) and item["long"] == pytest.approx(lon)
    assert item["address"] == "兰山街道兰山第一社区幸福路 12 号"
    assert item["address_id"] == data.DEMO_VILLAGE
    assert item["zipcode"] is None and item["media_url"] is None
    for key in ("requested_datetime", "updated_datetime"):
        assert item[key].endswith("+08:00")
        assert abs(datetime.fromisoformat(item[key]) - datetime.now(UTC)) < timedelta(minutes=5)
    # a number the citizen typed into the text is not shown to the public
    assert "13900001111" not in one.text and "[电话已隐去]" in item["description"]
    xml = api.get(f"{BASE}/requests/{number}.xml")
    assert_xml_like(xml.text, spec_xml("spec_xml-service-request.xml"))

    # Another citizen, 20 m away, same problem: linked to the same case by the intake's 50 m dedupe.
    second = post_json(api, report_json(lat + 0.00018, lon, device_id="phone-B", phone="13700137000")).json()
    assert second[0]["token"] != token
    process(demo)
    assert api.get(f"{BASE}/tokens/{second[0]['token']}.json").json()[0]["service_request_id"] == number
    with demo.read() as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        assert case.reporter_count == 2
        assert s.execute(select(Case)).scalars().all() == [case]
    linked = api.get(f"{BASE}/requests/{number}.json").json()[0]
    assert linked["status_notes"] and "duplicate report linked" in linked["status_notes"]

    # GET requests: the spec's shape, and its filters
    listed = api.get(f"{BASE}/requests.json")
    assert listed.status_code == 200
    assert_json_like(listed.json(), spec_json("spec_json-service-requests.json"))
    assert [r["service_request_id"] for r in listed.json()] == [number]
    assert_xml_like(api.get(f"{BASE}/requests.xml").text, spec_xml("spec_xml-service-requests.xml"))

    def numbers(**params: str) -> list[str]:
        response = api.get(f"{BASE}/requests.json?{urlencode(params)}")
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert numbers(status="open") == [number]
    assert numbers(status="closed") == []
    assert numbers(status="open,closed") == [number]
    assert numbers(service_code="E0101,C0101") == [number]
    assert numbers(service_code="C0101") == []
    assert numbers(service_request_id=f"{number},LY-19990101-0001") == [number]
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert numbers(start_date=yesterday.isoformat().replace("+00:00", "Z")) == [number]
    assert numbers(end_date=yesterday.isoformat()) == []
    assert numbers(start_date="2010-01-01T00:00:00Z", end_date="2010-02-01T00:00:00+08:00") == []

    # no personal data anywhere: not in the answers, not in the clear in the database
    everything = listed.text + api.get(f"{BASE}/requests.xml").text
    for secret in (PHONE, "13700137000", "zhangsan", "张三"):
        assert secret not in everything
    with demo.read() as s:
        rows = s.execute(select(Signal.fields, Signal.raw)).all()
    assert len(rows) == 2
    for fields, raw in rows:
        text = json.dumps(fields, ensure_ascii=False)
        for secret in (PHONE, "8613800138000", "13700137000", "zhangsan@example.cn", "张三"):
            assert secret not in text and secret.encode() not in raw
        assert fields["reporter"]["phone_masked"] in {"+86 138****8000", "+86 137****7000"}
        assert fields["reporter"]["name_masked"] == "张*"
        assert fields["attributes"] == {"hazard": "no", "photo_note": "从路口东侧拍摄"}
        assert json.loads(VAULT.open_bytes(raw))["phone"] in {PHONE, "13700137000"}


def test_a_retried_report_answers_the_same_token(api: TestClient, demo: Database) -> None:
    lat, lon = village(demo)
    body = report_json(lat, lon)
    first = post_json(api, body).json()[0]["token"]
    second = post_json(api, body).json()[0]["token"]
    form = {k: v for k, v in body.items() if k != "attribute"} | {"attribute[hazard]": "no"}
    third = api.post(f"{BASE}/requests.xml", data=form)
    assert ElementTree.fromstring(third.content).findtext("request/token") == first == second
    changed = post_json(api, report_json(lat, lon, description="又堆了一堆")).json()[0]["token"]
    assert changed != first
    with demo.read() as s:
        assert len(s.execute(select(Signal)).scalars().all()) == 2


def test_a_report_with_only_an_address_is_placed_by_the_names_in_it(api: TestClient, demo: Database) -> None:
    body = {"api_key": API_KEY, "service_code": "E0201", "address_string": "临沂市兰山区兰山街道兰山第二社区菜市场门口"}
    token = post_json(api, body).json()[0]["token"]
    with demo.read() as s:
        assert s.get(Signal, int(token)).fields["unit"] == "371302001002"
    process(demo)
    number = api.get(f"{BASE}/tokens/{token}.json").json()[0]["service_request_id"]
    item = api.get(f"{BASE}/requests/{number}.json").json()[0]
    assert item["address_id"] == "371302001002"
    assert item["description"] == "非法小广告"  # none given: the category names the problem


# ------------------------------------------------------------------------------------------------ (c) errors


def assert_spec_error(response: Any, status: int, fmt: str = "json") -> list[str]:
    assert response.status_code == status, response.text
    if fmt == "xml":
        root = assert_xml_like(response.text, spec_xml("spec_xml-errors.xml"))
        assert {e.findtext("code") for e in root} == {str(status)}
        return [e.findtext("description") or "" for e in root]
    assert_json_like(response.json(), spec_json("spec_json-errors.json"))
    assert {e["code"] for e in response.json()} == {status}
    return [e["description"] for e in response.json()]


def test_errors_have_the_specs_shape_and_status(api: TestClient, demo: Database) -> None:
    spec_status, _ = spec_text("spec_json-errors.json")
    lat, lon = village(demo)
    good = report_json(lat, lon)

    bad_key = api.post(f"{BASE}/requests.json", json=good | {"api_key": "xyz"})
    assert spec_status == 403
    assert "api_key" in assert_spec_error(bad_key, 403)[0]
    assert_spec_error(
        api.post(f"{BASE}/requests.xml", json={k: v for k, v in good.items() if k != "api_key"}), 403, "xml"
    )

    missing = api.post(f"{BASE}/requests.json", json={"api_key": API_KEY})
    described = assert_spec_error(missing, 400)
    assert any(d.startswith("service_code") for d in described) and any(d.startswith("location") for d in described)
    assert assert_spec_error(api.post(f"{BASE}/requests.json", json=good | {"phone": "12"}), 400)[0].startswith("phone")
    assert assert_spec_error(api.post(f"{BASE}/requests.json", json=good | {"lat": 95}), 400)[0].startswith("lat")
    assert_spec_error(api.post(f"{BASE}/requests.json", json=good | {"long": None}), 400)
    assert_spec_error(api.post(f"{BASE}/requests.json", json=good | {"email": "nobody"}), 400)
    assert_spec_error(api.post(f"{BASE}/requests.json", json=good | {"attribute": {"hazard": "maybe"}}), 400)
    assert_spec_error(
        api.post(f"{BASE}/requests.json", content=b"not json", headers={"content-type": "application/json"}), 400
    )
    unknown = api.post(f"{BASE}/requests.xml", json=good | {"service_code": "X9999"})
    assert "service_code" in assert_spec_error(unknown, 404, "xml")[0]
    with demo.read() as s:
        assert s.execute(select(Signal)).first() is None  # nothing stored by any refused request

    assert_spec_error(api.get(f"{BASE}/services/X9999.json"), 404)
    assert_spec_error(api.get(f"{BASE}/services/X9999.xml"), 404, "xml")
    assert_spec_error(api.get(f"{BASE}/requests/LY-19990101-0001.xml"), 404, "xml")
    assert_spec_error(api.get(f"{BASE}/tokens/999999.json"), 404)
    assert_spec_error(api.get(f"{BASE}/tokens/abc.json"), 404)
    assert_spec_error(api.get(f"{BASE}/services.csv"), 404)
    assert_spec_error(api.get(f"{BASE}/requests.json?start_date=yesterday"), 400)
    assert_spec_error(api.get(f"{BASE}/requests.json?status=pending"), 400)
    span = urlencode({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"})
    assert "90 days" in assert_spec_error(api.get(f"{BASE}/requests.xml?{span}"), 400, "xml")[0]
