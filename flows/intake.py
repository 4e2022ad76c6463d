"""`intake`: signals -> cases, in batches (the rules are in models.intake). The worker also runs the same batch
function in a tight loop for low latency; this flow is the scheduled catch-up and the unit Prefect shows."""

from __future__ import annotations

import threading

from prefect import flow, get_run_logger

from models.db import Database
from models.intake import IntakeReport, process_batch
from models.settings import Settings


def drain(db: Database, prefix: str, batch: int = 500, max_batches: int | None = None) -> IntakeReport:
    """Process pending signals batch by batch (one transaction each) until none is left."""
    total = IntakeReport()
    done = 0
    while max_batches is None or done < max_batches:
        with db.write() as session:
            report = process_batch(session, limit=batch, prefix=prefix)
        total.merge(report)
        done += 1
        if report.processed < batch:
            break
    return total


@flow(name="intake")
def intake(database_url: str | None = None, batch: int = 5000) -> dict[str, object]:
    settings = Settings.load()
    db = Database(database_url or settings.database_url)
    try:
        report = drain(db, settings.city_prefix, batch)
    finally:
        db.dispose()
    get_run_logger().info(
        "intake: %d signals, %d cases, %d attached, %d linked, suppressed %s",
        report.processed,
        len(report.cases),
        report.attached,
        report.linked,
        report.suppressed,
    )
    return {"processed": report.processed, "cases": report.cases, "suppressed": report.suppressed}


@flow(name="intake_signal")
def intake_signal(signal_id: int, database_url: str, prefix: str = "LY") -> int:
    """One signal in one flow run: the naive design the intake benchmark compares the batch path against."""
    db = Database(database_url)
    try:
        with db.write() as session:
            return process_batch(session, prefix=prefix, ids=[signal_id]).processed
    finally:
        db.dispose()


class IntakeLoop(threading.Thread):
    """The worker's low-latency path: poll for new signals every `idle` seconds, process them at once."""

    def __init__(self, db: Database, prefix: str, idle: float = 0.2, batch: int = 500) -> None:
        super().__init__(name="intake-loop", daemon=True)
        self.db, self.prefix, self.idle, self.batch = db, prefix, idle, batch
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                report = drain(self.db, self.prefix, self.batch, max_batches=20)
            except Exception as exc:  # keep the loop alive; the batch rolled back and will be retried
                print(f"intake loop: batch failed, will retry: {exc!r}", flush=True)
                self.stopped.wait(2.0)
                continue
            if report.processed == 0:
                self.stopped.wait(self.idle)

    def stop(self) -> None:
        self.stopped.set()
