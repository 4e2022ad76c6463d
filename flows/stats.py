"""`stats`: the daily snapshot of leadership statistics (models.rollups), and on Mondays the previous week's
bulletin (integrations.bulletin), XLSX and PDF side by side, written under the media folder."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger

from integrations.bulletin import bulletin_name, weekly_bulletin, weekly_bulletin_pdf
from models.db import Database, utcnow
from models.rollups import snapshot_day
from models.settings import Settings

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def run_stats(db: Database, media_dir: str, now: datetime | None = None) -> dict[str, object]:
    now = now or utcnow()
    today = now.astimezone(LOCAL_TZ).date()
    yesterday = today - timedelta(days=1)
    with db.write() as session:
        rows = snapshot_day(session, yesterday, now) + snapshot_day(session, today, now)
    result: dict[str, object] = {"snapshots": rows, "day": yesterday.isoformat()}
    if today.weekday() == 0 and "://" not in media_dir:
        monday = today - timedelta(days=7)
        folder = Path(media_dir) / "bulletins"
        result["bulletin"] = weekly_bulletin(db, monday, folder / bulletin_name(monday, "xlsx"))
        result["bulletin_pdf"] = weekly_bulletin_pdf(db, monday, folder / bulletin_name(monday, "pdf"))["path"]
    return result


@flow(name="stats")
def stats(database_url: str | None = None, day: date | None = None) -> dict[str, object]:
    settings = Settings.load()
    db = Database(database_url or settings.database_url)
    try:
        now = datetime.combine(day, datetime.max.time(), tzinfo=LOCAL_TZ) if day else None
        result = run_stats(db, settings.media_dir, now)
    finally:
        db.dispose()
    get_run_logger().info("stats: %s", result)
    return result
