"""The evidence page SMS notices link to (`/e/<number>?t=<token>` on the gateway): the case for the unit's contacts,
with redacted evidence only; a wrong or missing token is 403 and says nothing, an unknown case 404, every text
from the database escaped; the link in a notice carries a token the page accepts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from integrations.evidence_page import EvidenceLinks
from integrations.gateway import create_app
from integrations.storage import Storage
from models.commands import get_case
from models.db import Database
from models.evidence import add_evidence
from models.settings import Settings
from tests.conftest import TEST_SECRET
from tests.sms_support import PUBLIC_URL, dispatched, notices

DESCRIPTION = '人行道乱堆建筑垃圾<script>alert("x")</script> & 杂物'


@dataclass
class Page:
    client: TestClient
    number: str
    token: str
    original: bytes
    redacted: bytes
    clip: bytes
    unredacted_id: int
    db: Database


def settings_for(url: str, media: Path) -> Settings:
    return Settings.load(
        environ={
            "XUELIANG_SECRET_KEY": TEST_SECRET,
            "XUELIANG_DATABASE_URL": url,
            "XUELIANG_MEDIA_DIR": str(media),
            "XUELIANG_PUBLIC_URL": PUBLIC_URL,
        }
    )


@pytest.fixture
def page(demo_url: str, tmp_path: Path) -> Iterator[Page]:
    """A dispatched case with a snapshot (original and blurred copy), a redacted clip, and an after photo that
    has no blurred copy yet."""
    settings = settings_for(demo_url, tmp_path / "media")
    db = Database(demo_url)
    number = dispatched(db, DESCRIPTION, settings=settings)
    store = Storage(settings.media_dir)
    original, redacted, clip = b"\xff\xd8original-face", b"\xff\xd8blurred-face", b"\x00\x00\x00\x18ftypmp42clip"
    after = b"\x89PNGafter-original"

    def kept(data: bytes, suffix: str) -> tuple[str, str, int]:
        stored = store.put(data, suffix)
        return stored.uri, stored.sha256, stored.size

    items = [  # kind, (original uri, sha256, size), redacted uri, faces
        ("snapshot", kept(original, ".jpg"), kept(redacted, ".jpg")[0], 1),
        ("clip", kept(clip, ".mp4"), kept(clip, ".mp4")[0], 0),
        ("after_photo", kept(after, ".png"), None, None),
    ]
    with db.write() as session:
        ids = [
            add_evidence(
                session,
                number,
                kind=kind,
                uri=uri,
                redacted_uri=redacted_uri,
                sha256=sha,
                size=size,
                source="test",
                captured_at=None,
                face_count=faces,
                actor="evidence",
            ).id
            for kind, (uri, sha, size), redacted_uri, faces in items
        ]
        unredacted_id = ids[-1]
    token = EvidenceLinks.from_settings(settings).token(number)
    with TestClient(create_app(settings, db)) as client:
        yield Page(client, number, token, original, redacted, clip, unredacted_id, db)
    db.dispose()


def media_sources(html: str) -> list[str]:
    return [unescape(src) for src in re.findall(r'<(?:img|video) src="([^"]+)"', html)]


def test_the_right_token_shows_the_case_and_serves_only_redacted_copies(page: Page) -> None:
    answer = page.client.get(f"/e/{page.number}", params={"t": page.token})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    html = answer.text
    with page.db.read() as session:
        case = get_case(session, page.number)
        assert case.rectify_due is not None
        rectify_local = case.rectify_due.astimezone(ZoneInfo("Asia/Shanghai"))
        category, place = case.category.name, case.unit.name
    for shown in (page.number, category, place, f"{rectify_local:%Y年%m月%d日 %H:%M}", f"收到 {page.number}", "完成"):
        assert shown in html
    assert "http" not in html  # no external asset, no absolute link
    sources = media_sources(html)
    assert len(sources) == 2 and '<video src="' in html  # the snapshot and the clip, not the unredacted photo
    assert all(re.fullmatch(rf"{page.number}/m/\d+\?t={re.escape(page.token)}", src) for src in sources)
    served = {}
    for src in sources:
        media = page.client.get(f"/e/{src}")
        assert media.status_code == 200
        served[media.headers["content-type"]] = media.content
    assert served == {"image/jpeg": page.redacted, "video/mp4": page.clip}
    assert page.original not in b"".join(served.values())
    hidden = page.client.get(f"/e/{page.number}/m/{page.unredacted_id}", params={"t": page.token})
    assert hidden.status_code == 404 and b"after-original" not in hidden.content


def test_a_video_can_be_fetched_in_ranges_as_mobile_browsers_do(page: Page) -> None:
    html = page.client.get(f"/e/{page.number}", params={"t": page.token}).text
    [clip] = [unescape(src) for src in re.findall(r'<video src="([^"]+)"', html)]
    part = page.client.get(f"/e/{clip}", headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == page.clip[4:12]
    assert part.headers["content-range"] == f"bytes 4-11/{len(page.clip)}"
    tail = page.client.get(f"/e/{clip}", headers={"Range": "bytes=-4"})
    assert tail.status_code == 206 and tail.content == page.clip[-4:]
    assert page.client.get(f"/e/{clip}", headers={"Range": "bytes=999-"}).status_code == 416


def test_a_wrong_or_missing_token_is_403_and_reveals_nothing(page: Page) -> None:
    other = EvidenceLinks(TEST_SECRET).token("LY-19990101-0001")
    refusals = [
        page.client.get(f"/e/{page.number}", params={"t": "A" * 16}),
        page.client.get(f"/e/{page.number}", params={"t": other}),
        page.client.get(f"/e/{page.number}"),
        page.client.get(f"/e/{page.number}", params={"t": page.token[:-1]}),
        page.client.get("/e/LY-19990101-0002", params={"t": page.token}),  # an unknown number: same answer
        page.client.get(f"/e/{page.number}/m/{page.unredacted_id - 1}", params={"t": other}),
    ]
    assert {r.status_code for r in refusals} == {403}
    assert len({r.content for r in refusals}) == 1
    assert page.number.encode() not in refusals[0].content and page.redacted not in refusals[0].content


def test_an_unknown_case_with_its_own_token_is_404(page: Page) -> None:
    number = "LY-19990101-0001"
    answer = page.client.get(f"/e/{number}", params={"t": EvidenceLinks(TEST_SECRET).token(number)})
    assert answer.status_code == 404


def test_the_description_is_escaped(page: Page) -> None:
    html = page.client.get(f"/e/{page.number}", params={"t": page.token}).text
    assert "<script>" not in html and "alert(&quot;x&quot;)" in html
    assert "&lt;script&gt;" in html and "&amp; 杂物" in html


def test_the_notice_carries_a_link_the_page_accepts(page: Page) -> None:
    [notice] = notices(page.db, page.number)
    link = f"{PUBLIC_URL}/e/{page.number}?t={page.token}"
    assert notice.body.endswith(f"详情{link}")  # made by the relay, as every notice
    assert page.client.get(link.removeprefix(PUBLIC_URL)).status_code == 200
