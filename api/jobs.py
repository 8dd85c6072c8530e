"""Background loops. Alerts (their escalations, the daily digests, the event log's
monthly partitions and retention, and folding the stages' card tallies) run every
`alerts_interval_seconds` on one process at a time: on PostgreSQL the leader holds a
transaction-scoped advisory lock for the round (a session lock would stay behind on a server
connection PgBouncer hands to someone else); SQLite is single-host, so every round simply runs."""
import asyncio
import contextlib
import logging

from sqlalchemy import text

from db.partitions import ensure_months
from db.retention import prune
from db.tallies import fold as fold_tallies
from resolvers.alerts import raise_alerts
from resolvers.digest import send_digests
from resolvers.pool import return_idle_deals

log = logging.getLogger("baton.jobs")
ALERTS_LOCK_KEY = 0x62617400  # "bat\0": an arbitrary, fixed advisory lock id


@contextlib.asynccontextmanager
async def leadership(db, key: int = ALERTS_LOCK_KEY):
    """Yields True when this process may run the job now (and holds the lock while it does)."""
    if db.is_sqlite:
        yield True
        return
    async with db.engine.connect() as conn, conn.begin():
        # Held until this transaction ends with the round; the round's writes use sessions of their own.
        got = (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})).scalar()
        yield bool(got)


async def alerts_round(state) -> int:
    async with leadership(state.db) as leader:
        if not leader:
            return 0
        raised = await raise_alerts(state.db, state.clock(), state.settings, publish=state.hub.publish)
        await send_digests(state.db, state.clock())  # daily digests due by now (resolvers/digest.py)
        await return_idle_deals(state.db, state.clock(), publish=state.hub.publish)  # the pool's automatic return (resolvers/pool.py)
        await log_upkeep(state.db, state.clock(), state.settings.event_retention_days, state.settings.event_retention_events)
        await fold_tallies(state.db)  # the stages' card tallies, one row each again (db/tallies.py)
        return raised


async def log_upkeep(db, now, retention_days: int, retention_events: int = 0) -> dict | None:
    """The event log's coming months (PostgreSQL) and, when set, its retention: by age
    and/or by each organization's newest `retention_events` (db/retention.py)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(ensure_months, now)
    if retention_days <= 0 and retention_events <= 0:
        return None
    pruned = await prune(db, now, days=retention_days, keep=retention_events)
    if pruned["rows"]:
        log.info("event log retention: %d events removed (%s)", pruned["rows"], ", ".join(pruned["partitions"]) or "rows")
    return pruned


async def alerts_loop(state) -> None:
    # Sleep first: a process that just started does not race its peers at boot.
    while True:
        await asyncio.sleep(state.settings.alerts_interval_seconds)
        try:
            await alerts_round(state)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one bad round must not stop the loop
            log.exception("alerts round failed")


def start(state) -> asyncio.Task:
    return asyncio.create_task(alerts_loop(state), name="baton-alerts")


async def stop(task: asyncio.Task | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
