"""Twilio's webhooks on the gateway: delivery reports (POST /sms/status) and replies (POST /sms/inbound).

Both are checked against X-Twilio-Signature with twilio's RequestValidator and the account's auth token, over the
URL Twilio was given: XUELIANG_PUBLIC_URL + the request's path (+ its query). A missing or wrong signature (or no
TWILIO_AUTH_TOKEN configured) is 403 and nothing is stored or changed.

A delivery report finds its notice by MessageSid, or, when the sender crashed before recording the SID, by the
`?notice=<id>` our StatusCallback carries; the status only moves forward (never back from delivered). An
undelivered or failed message flags the notice (status and the reason in Chinese) and makes a notice to the unit's
backup contact; an outbox row announces it (`xueliang.case.notice_backup`) so the dispatch flow sends it at once.

A reply is kept as a Signal of source "sms" (key "sms:"+MessageSid, so Twilio's retries are recognised and get the
same answer), its raw form sealed (it holds the sender's number), and marked processed in the same transaction as
the action it caused, so intake never sees it as new. The sender is recognised by the keyed digest of the number
(UnitContact.phone_digest); what the reply does is models.replies. A photo with "完成" is fetched from Twilio (HTTP
Basic with the account's credentials, from XUELIANG_TWILIO_BASE_URL when set) before the transaction, stored by
integrations.storage (content-addressed under XUELIANG_MEDIA_DIR) and recorded as after-evidence by
models.evidence, with its custody entry in the case history.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict

from integrations.secrets import PhoneVault
from integrations.sms import rebase_url, twilio_status
from integrations.storage import Storage
from integrations.video import EvidenceError
from models.cases import Case, Notice, Outbox, Signal
from models.db import Database, utcnow
from models.errors import ValidationError
from models.intake import record_signal
from models.notices import FAILED, advance_status, create_backup_notices
from models.privacy import mask_phone, normalize_phone
from models.replies import AfterPhoto, Outcome, handle_reply, parse_reply, sender_contacts
from models.settings import Settings

log = logging.getLogger("xueliang.sms")

MAX_FORM = 64 * 1024
MAX_MEDIA = 10 * 1024 * 1024
MAX_PHOTOS = 5
IMAGE_SUFFIX = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/bmp": ".bmp",
}
# Twilio's delivery error codes an operator meets most, explained on the dispatch board.
DELIVERY_ERRORS = {
    "30001": "发送队列溢出",
    "30002": "Twilio 账号已暂停",
    "30003": "对方手机无法接通（关机或不在服务区）",
    "30004": "对方拒收或已屏蔽",
    "30005": "号码不存在或已停用",
    "30006": "固定电话或运营商不可达",
    "30007": "被运营商过滤拦截",
    "30008": "未知错误",
    "30009": "短信分段缺失",
    "30010": "超过设定的最高价格",
}

FetchMedia = Callable[[str], tuple[bytes, str]]


class MediaError(Exception):
    """A photo that could not be fetched or kept; the message is safe to show."""


def signed_url(settings: Settings, request: Request) -> str:
    """The URL Twilio signed: the public address it was given, not the one this replica sees behind a proxy."""
    query = request.url.query
    return f"{settings.public_url}{request.url.path}{'?' + query if query else ''}"


def _forbidden(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "forbidden", "message": message}}, status_code=403)


async def checked_form(
    request: Request, settings: Settings
) -> tuple[bytes, ImmutableMultiDict[str, str]] | JSONResponse:
    """The raw body and its form when the signature is right; otherwise the error response to give."""
    from twilio.request_validator import RequestValidator

    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            return JSONResponse({"error": {"code": "too_large", "message": "form too large"}}, status_code=413)
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        return _forbidden("missing X-Twilio-Signature")
    if not settings.twilio_auth_token:
        log.error("a Twilio webhook arrived but TWILIO_AUTH_TOKEN is not set: refused")
        return _forbidden("webhook signatures cannot be checked: TWILIO_AUTH_TOKEN is not configured")
    try:
        form = ImmutableMultiDict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return _forbidden("the form is not UTF-8")
    if not RequestValidator(settings.twilio_auth_token).validate(signed_url(settings, request), form, signature):
        return _forbidden("wrong X-Twilio-Signature")
    return raw, form


# ---------------------------------------------------------------------------------------- delivery reports


def _delivery_error(status: str, code: str | None) -> str | None:
    if status not in FAILED:
        return None
    if code:
        return f"Twilio {code}：{DELIVERY_ERRORS.get(code, '发送失败')}"
    return f"Twilio 报告{'未送达' if status == 'undelivered' else '发送失败'}"


def record_status(db: Database, form: ImmutableMultiDict[str, str], notice_ref: str | None) -> dict[str, Any]:
    """Apply one delivery report; returns what happened (for logs and tests)."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = twilio_status(form.get("MessageStatus") or form.get("SmsStatus"))
    if not sid or status is None:
        return {"ignored": "no MessageSid or an unknown MessageStatus"}
    now = utcnow()
    with db.write() as session:
        notice = session.execute(select(Notice).where(Notice.provider_sid == sid)).scalar_one_or_none()
        if notice is None and notice_ref and notice_ref.isdigit():
            candidate = session.get(Notice, int(notice_ref))
            if candidate is not None and candidate.provider_sid is None:
                # the sender crashed (or is still waiting) before recording the SID: the report reconciles it
                candidate.provider_sid, candidate.sent_at = sid, candidate.sent_at or now
                notice = candidate
            elif candidate is not None and candidate.provider_sid != sid:
                candidate.error = f"Twilio 另有一条短信 {sid}（状态 {status}）"[:2000]
                return {"notice": candidate.id, "duplicate_sid": sid}
        if notice is None:
            return {"ignored": "no notice has this MessageSid"}
        changed = advance_status(notice, status, _delivery_error(status, form.get("ErrorCode")), now)
        backups: list[int] = []
        if changed and notice.status in FAILED:
            backups = create_backup_notices(session, notice, now)
            if backups:
                case = session.get(Case, notice.case_id)
                assert case is not None
                session.add(
                    Outbox(
                        topic="notice.backup",
                        case_id=case.id,
                        payload={
                            "number": case.number,
                            "action": "notice_backup",
                            "version": case.version,
                            "state": case.state,
                            "tier": case.tier,
                            "actor": "sms",
                            "at": now.isoformat(),
                            "data": {"failed_notice": notice.id, "notices": backups},
                        },
                        created_at=now,
                        available_at=now,
                    )
                )
        return {"notice": notice.id, "status": notice.status, "changed": changed, "backups": backups}


# ----------------------------------------------------------------------------------------------- replies


def fetch_twilio_media(
    settings: Settings, url: str, max_bytes: int = MAX_MEDIA, timeout: float = 10.0
) -> tuple[bytes, str]:
    """A media file of an incoming MMS: only from Twilio's API (or the configured base URL), with the account's
    Basic auth; redirects (Twilio hands media out from a CDN) are followed without the credentials."""
    import httpx

    host = (urlsplit(url).hostname or "").lower()
    base = settings.twilio_base_url
    if not (host == "api.twilio.com" or host.endswith(".twilio.com") or (base and url.startswith(base.rstrip("/")))):
        raise MediaError("照片地址不是 Twilio 的媒体地址，未下载")
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        raise MediaError("未配置 Twilio 账号，无法下载照片")
    auth = (settings.twilio_account_sid, settings.twilio_auth_token)
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, auth=auth) as http,
            http.stream("GET", rebase_url(url, base)) as answer,
        ):
            if answer.status_code != 200:
                raise MediaError(f"下载照片失败：HTTP {answer.status_code}")
            data = b""
            for chunk in answer.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise MediaError(f"照片超过 {max_bytes // (1024 * 1024)} MB，未保存")
            return data, answer.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        raise MediaError(f"下载照片失败：{type(exc).__name__}") from exc


def _photos(form: ImmutableMultiDict[str, str], settings: Settings, fetch: FetchMedia) -> list[AfterPhoto]:
    """Fetch and keep (content-addressed, integrations.storage) the photos of an MMS, each or its error."""

    def storage() -> Storage:
        return Storage.from_settings(settings)

    photos = []
    count = int(form.get("NumMedia") or 0) if (form.get("NumMedia") or "0").isdigit() else 0
    for i in range(min(count, MAX_PHOTOS)):
        url = form.get(f"MediaUrl{i}")
        if not url:
            continue
        declared = (form.get(f"MediaContentType{i}") or "").split(";")[0].strip().lower()
        try:
            if declared and not declared.startswith("image/"):
                raise MediaError(f"附件不是图片（{declared}），未保存")
            data, served = fetch(url)
            content_type = declared or served.split(";")[0].strip().lower()
            if not content_type.startswith("image/"):
                raise MediaError(f"附件不是图片（{content_type or '未知类型'}），未保存")
            stored = storage().put(data, suffix=IMAGE_SUFFIX.get(content_type, ""))
        except MediaError as exc:
            photos.append(AfterPhoto(source=url, content_type=declared or None, error=str(exc)))
            continue
        except EvidenceError as exc:
            photos.append(AfterPhoto(source=url, content_type=declared or None, error=f"保存照片失败：{exc}"))
            continue
        photos.append(
            AfterPhoto(source=url, content_type=content_type, uri=stored.uri, sha256=stored.sha256, size=stored.size)
        )
    return photos


@dataclass(frozen=True)
class InboundResult:
    reply: str
    signal_id: int
    duplicate: bool
    outcome: Outcome | None


def handle_inbound(
    db: Database,
    settings: Settings,
    vault: PhoneVault,
    raw: bytes,
    form: ImmutableMultiDict[str, str],
    fetch: FetchMedia,
    now: datetime | None = None,
) -> InboundResult:
    now = now or utcnow()
    sid = form.get("MessageSid") or form.get("SmsSid") or hashlib.sha256(raw).hexdigest()[:34]
    key = f"sms:{sid}"[:200]
    with db.read() as session:
        seen = session.execute(select(Signal.id, Signal.fields).where(Signal.idempotency_key == key)).first()
        if seen is not None:  # Twilio retried: same answer, nothing done twice
            return InboundResult(str(seen[1].get("reply") or ""), seen[0], True, None)
    try:
        sender = normalize_phone(form.get("From") or "")
        digest: str | None = vault.digest(sender)
    except ValidationError:
        sender, digest = "", None
    reply = parse_reply(form.get("Body") or "")
    photos: list[AfterPhoto] = []
    if digest and reply.action == "report_fixed":
        with db.read() as session:
            known = bool(sender_contacts(session, digest))
        if known:  # fetched before the transaction: no write lock is held during a download
            photos = _photos(form, settings, fetch)
    fields: dict[str, Any] = {
        "message_sid": sid,
        "from_masked": mask_phone(sender) if sender else None,
        "from_digest": digest,
        "body": (form.get("Body") or "")[:1600],
        "num_media": form.get("NumMedia") or "0",
    }
    with db.write() as session:
        recorded = record_signal(
            session,
            source="sms",
            type_="sms_reply",
            state=reply.action or "unknown",
            camera_ref=None,
            device_time=now,
            time_flagged=False,
            external_id=sid,
            fields=fields,
            raw=vault.seal_bytes(raw),
            content_type="application/x-www-form-urlencoded",
            received_at=now,
            key=key,
        )
        signal = session.get(Signal, recorded.id)
        assert signal is not None
        if recorded.duplicate:
            return InboundResult(str(signal.fields.get("reply") or ""), signal.id, True, None)
        contacts = sender_contacts(session, digest) if digest else []
        outcome = handle_reply(session, contacts, reply, photos, now)
        signal.status = outcome.status
        signal.case_id = outcome.case_id
        signal.suppressed_by = outcome.reason
        signal.fields = {
            **signal.fields,
            "action": outcome.action,
            "case": outcome.case_number,
            "reply": outcome.reply,
            "photos": [p.sha256 or p.error for p in photos],
        }
    return InboundResult(outcome.reply, recorded.id, False, outcome)


def twiml(message: str) -> str:
    from twilio.twiml.messaging_response import MessagingResponse

    response = MessagingResponse()
    if message:
        response.message(message)
    return str(response.to_xml(xml_declaration=True))


def sms_router(db: Database, settings: Settings, vault: PhoneVault, fetch_media: FetchMedia | None = None) -> APIRouter:
    """POST /sms/status and POST /sms/inbound, to be included in the gateway app."""
    router = APIRouter()

    def fetch(url: str) -> tuple[bytes, str]:
        return fetch_twilio_media(settings, url)

    fetcher = fetch_media or fetch

    @router.post("/sms/status", status_code=204)
    async def sms_status(request: Request) -> Response:
        checked = await checked_form(request, settings)
        if isinstance(checked, JSONResponse):
            return checked
        _raw, form = checked
        result = await run_in_threadpool(record_status, db, form, request.query_params.get("notice"))
        log.info("sms status report: %s", result)
        return Response(status_code=204)

    @router.post("/sms/inbound")
    async def sms_inbound(request: Request) -> Response:
        checked = await checked_form(request, settings)
        if isinstance(checked, JSONResponse):
            return checked
        raw, form = checked
        result = await run_in_threadpool(handle_inbound, db, settings, vault, raw, form, fetcher)
        log.info("sms reply: signal %s%s", result.signal_id, " (repeat)" if result.duplicate else "")
        return Response(twiml(result.reply), media_type="application/xml")

    return router
