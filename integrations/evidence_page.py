"""The page an SMS notice links to: `GET /e/<number>?t=<token>` on the gateway, for the responsible unit's contacts
on their phones. It shows what to fix, where, by when, how to reply, and the case's *redacted* evidence only:
images inline and the clip as a <video>, each served by `GET /e/<number>/m/<evidence id>?t=<token>`. Originals
are never listed nor served.

The token is an HMAC of the case number under a key derived from XUELIANG_SECRET_KEY (integrations.secrets), so a
link cannot be made for another number by guessing. A missing or wrong token is 403 whatever the number (so it
does not tell whether the case exists); a right token for a case that is not there is 404. The token does not
name the notice: one text goes to all of a unit's contacts, and the link is made before the notices are.

The page is self-contained (UTF-8, inline CSS, no external assets, no script) and sent with a Content Security
Policy that allows nothing else; every text from the database is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import IO
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import select

from integrations.secrets import secret_key
from integrations.storage import Storage
from integrations.video import EvidenceError
from models.cases import Case, Evidence
from models.db import Database
from models.evidence import KINDS
from models.notices import LOCAL_TZ
from models.settings import Settings
from models.workflow import STATE_NAMES

TOKEN_CHARS = 12  # 96 bits of HMAC-SHA256, base64url: short enough for an SMS, far too many to guess
CHUNK = 256 * 1024
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class EvidenceLinks:
    """Makes and checks the tokens of evidence links."""

    def __init__(self, key: str) -> None:
        self._key = hashlib.sha256(b"evidence-link:" + key.encode()).digest()

    @classmethod
    def from_settings(cls, settings: Settings) -> EvidenceLinks:
        return cls(secret_key(settings))

    def token(self, number: str) -> str:
        digest = hmac.new(self._key, number.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:TOKEN_CHARS]

    def valid(self, number: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.token(number), str(token))

    def url(self, public_url: str, number: str) -> str:
        return f"{public_url.rstrip('/')}/e/{number}?t={self.token(number)}"


def evidence_link(settings: Settings, number: str) -> str:
    """The link an SMS notice about case `number` carries."""
    return EvidenceLinks.from_settings(settings).url(settings.public_url, number)


# ------------------------------------------------------------------------------------------------ what is shown


@dataclass(frozen=True)
class PublicItem:
    id: int
    kind: str
    video: bool
    face_count: int | None
    captured_at: datetime | None


@dataclass(frozen=True)
class PublicCase:
    number: str
    category: str
    place: str
    address: str | None
    description: str
    state: str
    ack_due: datetime | None
    rectify_due: datetime | None
    extension_until: datetime | None
    items: list[PublicItem]


def public_case(db: Database, number: str) -> PublicCase | None:
    with db.read() as session:
        case = session.execute(select(Case).where(Case.number == number)).scalar_one_or_none()
        if case is None:
            return None
        redacted = session.execute(
            select(Evidence)
            .where(Evidence.case_id == case.id, Evidence.status == "ready", Evidence.redacted_uri.is_not(None))
            .order_by(Evidence.id)
        ).scalars()
        items = [PublicItem(e.id, e.kind, e.kind == "clip", e.face_count, e.captured_at) for e in redacted]
        return PublicCase(
            number=case.number,
            category=case.category.name,
            place=case.unit.name,
            address=case.address,
            description=case.description or "",
            state=STATE_NAMES.get(case.state, (case.state, case.state))[0],
            ack_due=case.ack_due,
            rectify_due=case.rectify_due,
            extension_until=case.extension_requested_until,
            items=items,
        )


def redacted_copy(db: Database, number: str, evidence_id: int) -> tuple[str, str] | None:
    """The redacted copy's URI and media type, when item `evidence_id` of case `number` has one."""
    with db.read() as session:
        row = session.execute(
            select(Evidence.redacted_uri, Evidence.kind)
            .join(Case, Case.id == Evidence.case_id)
            .where(
                Case.number == number,
                Evidence.id == evidence_id,
                Evidence.status == "ready",
                Evidence.redacted_uri.is_not(None),
            )
        ).one_or_none()
    if row is None:
        return None
    uri, kind = row
    guessed = mimetypes.guess_type(uri)[0]
    return uri, guessed or ("video/mp4" if kind == "clip" else "image/jpeg")


def _local(value: datetime | None) -> str:
    return value.astimezone(LOCAL_TZ).strftime("%Y年%m月%d日 %H:%M") if value else "—"


STYLE = """
body{font-family:system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;
background:#f4f5f7;color:#1f2328;line-height:1.6}
main{max-width:40rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;margin:.25rem 0 1rem}
section{background:#fff;border-radius:.5rem;padding:.75rem 1rem;margin-bottom:1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem .75rem;margin:0}
dt{color:#57606a}dd{margin:0;word-break:break-word}
img,video{display:block;width:100%;height:auto;border-radius:.25rem;background:#000}
figure{margin:0 0 1rem}figcaption{font-size:.875rem;color:#57606a}
.reply b{font-size:1.05rem}
"""


def render_page(case: PublicCase, token: str) -> str:
    """The page; every value from the database is escaped."""
    e = escape
    rows = [
        ("问题类别", case.category),
        ("地点", case.place + (f"（{case.address}）" if case.address else "")),
        ("问题描述", case.description or "—"),
        ("当前状态", case.state),
        ("签收期限", _local(case.ack_due)),
        ("整改期限", _local(case.rectify_due)),
    ]
    if case.extension_until:
        rows.append(("申请延期至", _local(case.extension_until) + "（待审批）"))
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    figures = []
    for item in case.items:
        src = e(f"{quote(case.number)}/m/{item.id}?t={quote(token)}")  # relative: works behind a path prefix
        caption = KINDS.get(item.kind, item.kind)
        if item.captured_at:
            caption += f" · {_local(item.captured_at)}"
        if item.face_count:
            caption += f" · {item.face_count} 张人脸已模糊"
        media = (
            f'<video src="{src}" controls playsinline preload="metadata"></video>'
            if item.video
            else f'<img src="{src}" alt="{e(caption)}" loading="lazy">'
        )
        figures.append(f"<figure>{media}<figcaption>{e(caption)}</figcaption></figure>")
    evidence = "".join(figures) or "<p>暂无可公开的证据（图像须经人脸模糊处理后才在此显示）。</p>"
    number = e(case.number)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow">
<title>案卷 {number} · 雪亮</title><style>{STYLE}</style></head>
<body><main>
<h1>【雪亮】案卷 {number}</h1>
<section><dl>{facts}</dl></section>
<section class="reply"><p>短信回复 <b>收到 {number}</b>（或 <b>1</b>）签收；整改完成后回复 <b>完成 {number}</b>
（或 <b>2</b>），可附现场照片。</p></section>
<section><h2>现场证据</h2>{evidence}</section>
</main></body></html>"""


# ------------------------------------------------------------------------------------------------------ routes


def _chunks(handle: IO[bytes], length: int) -> Iterator[bytes]:
    try:
        while length > 0:
            chunk = handle.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _size(handle: IO[bytes]) -> int:
    size = handle.seek(0, 2)
    handle.seek(0)
    return size


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes of a single `Range: bytes=a-b` request, or None for the whole file. Mobile
    browsers ask for ranges to play a video; a range that cannot be served raises ValueError."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges, or another unit: the whole file is a valid answer
    first, last = match.groups()
    if not first:
        if not last or int(last) == 0:
            raise ValueError(header)
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError(header)
    return start, end


def evidence_router(db: Database, settings: Settings) -> APIRouter:
    """GET /e/{number} (the page) and GET /e/{number}/m/{evidence_id} (a redacted copy), for the gateway. The
    evidence store is opened at the first media request (an fsspec store may need its package and network)."""
    router = APIRouter()
    links = EvidenceLinks.from_settings(settings)
    store: Storage | None = None

    def blobs() -> Storage:
        nonlocal store
        if store is None:
            store = Storage.from_settings(settings)
        return store

    def refused() -> Response:
        return Response("链接无效或已失效 / invalid link", status_code=403, media_type="text/plain; charset=utf-8")

    def missing() -> Response:
        return Response("没有此案卷 / not found", status_code=404, media_type="text/plain; charset=utf-8")

    @router.get("/e/{number}")
    async def evidence_page(number: str, t: str | None = None) -> Response:
        if not links.valid(number, t):
            return refused()
        case = await run_in_threadpool(public_case, db, number)
        if case is None:
            return missing()
        assert t is not None
        return HTMLResponse(render_page(case, t), headers=HEADERS)

    @router.get("/e/{number}/m/{evidence_id}")
    async def evidence_media(number: str, evidence_id: int, request: Request, t: str | None = None) -> Response:
        if not links.valid(number, t):
            return refused()
        found = await run_in_threadpool(redacted_copy, db, number, evidence_id)
        if found is None:
            return missing()
        uri, media_type = found
        try:
            handle = await run_in_threadpool(blobs().open, uri)
        except EvidenceError:
            return missing()
        size = await run_in_threadpool(_size, handle)
        headers = {**HEADERS, "Cache-Control": "private, max-age=3600", "Accept-Ranges": "bytes"}
        try:
            span = _byte_range(request.headers.get("range"), size)
        except ValueError:
            handle.close()
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        if span is None:
            headers["Content-Length"] = str(size)
            return StreamingResponse(_chunks(handle, size), media_type=media_type, headers=headers)
        first, last = span
        await run_in_threadpool(handle.seek, first)
        headers.update({"Content-Range": f"bytes {first}-{last}/{size}", "Content-Length": str(last - first + 1)})
        return StreamingResponse(
            _chunks(handle, last - first + 1), status_code=206, media_type=media_type, headers=headers
        )

    return router
