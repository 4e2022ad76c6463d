"""`route`: make sure a new case sits in its tier's queue with its clocks running (models.commands.route_case).
Intake and patrols route in the same transaction that opens the case, so for them this is a check that finds
nothing to do; a case opened while no rule matched gets the current rule. Triggered by `xueliang.case.create`."""

from __future__ import annotations

from prefect import flow, get_run_logger

from models.commands import route_case
from models.db import Database
from models.settings import Settings


@flow(name="route")
def route(number: str, database_url: str | None = None) -> bool:
    number = number.removeprefix("xueliang.case.")  # an event trigger passes the resource id
    db = Database(database_url or Settings.load().database_url)
    try:
        with db.write() as session:
            changed = route_case(session, number)
    finally:
        db.dispose()
    get_run_logger().info("route %s: %s", number, "routed" if changed else "already in its queue")
    return changed
