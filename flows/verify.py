"""`verify`: when a unit reports a case fixed, put the before and after pictures side by side for the verifying
inspector, with a change score inside the case's region (integrations.compare). The inspector decides; the
score only helps. Triggered by `xueliang.case.report_fixed`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from integrations.compare import compare
from integrations.storage import Storage
from integrations.video import EvidenceError
from models.db import Database
from models.evidence import add_evidence, before_and_after, case_evidence
from models.settings import Settings


def verify_case(db: Database, settings: Settings, number: str, roi: str | None = None) -> dict[str, Any]:
    with db.read() as session:
        before, after = before_and_after(case_evidence(session, number))
    if before is None or after is None:
        return {"number": number, "status": "missing", "before": bool(before), "after": bool(after)}
    storage = Storage.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="xueliang-verify-") as tmp:
        folder = Path(tmp)
        assert before.uri is not None and after.uri is not None
        try:
            result = compare(
                storage.get(before.uri, folder / "before"),
                storage.get(after.uri, folder / "after"),
                roi,
                folder / "side_by_side.jpg",
            )
        except EvidenceError as exc:
            return {"number": number, "status": "failed", "error": str(exc)}
        assert result.side_by_side is not None
        stored = storage.put(result.side_by_side, ".jpg")
    summary = f"compare:{before.id}->{after.id} score={result.score:.3f} changed={result.changed} ({result.method})"
    with db.write() as session:
        add_evidence(
            session,
            number,
            kind="comparison",
            uri=stored.uri,
            redacted_uri=None,
            sha256=stored.sha256,
            size=stored.size,
            source=summary,
            captured_at=None,
            face_count=None,
            actor="verify",
        )
    return {"number": number, "status": "compared", **result.as_dict(), "side_by_side": stored.uri}


@flow(name="verify")
def verify(number: str, database_url: str | None = None, roi: str | None = None) -> dict[str, Any]:
    settings = Settings.load()
    number = number.removeprefix("xueliang.case.")  # an event trigger passes the resource id
    db = Database(database_url or settings.database_url)
    try:
        result = verify_case(db, settings, number, roi)
    finally:
        db.dispose()
    get_run_logger().info("verify %s: %s", number, result.get("status"))
    return result
