"""Retention of the event log: each organization keeps its log as a run of its newest seqs.

`organizations.events_removed_through` is the highest seq retention removed (0: none). It
is raised, and committed, before any event up to it is deleted; so a reader that finds it
at or below its cursor *after* reading has read every event above the cursor, and a
cursor below it answers RESYNC_REQUIRED with the oldest seq kept (resolvers/events.py,
resolvers/live.py).

Work is cut into short transactions so writers never wait long: a month partition
(PostgreSQL, retention by days) is detached under a lock timeout, and rows (SQLite by
days; retention by count on both) are deleted by seq in batches of `BATCH`. The alerts
leader runs a round each interval (api/jobs.py); `baton prune-events` runs one now."""
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from db import models as m
from db.partitions import PARTITION_LOCK_KEY, is_partitioned, month_partitions, next_month

log = logging.getLogger("baton.retention")
BATCH = 5000
LOCK_TIMEOUT = "2s"  # a detach waits at most this long for readers; writers queue behind it meanwhile
LOCK_NOT_AVAILABLE = "55P03"


def bounds_of(org_id: int):
    """The statement reading (the highest seq removed, the newest seq) of an organization's
    log: a cursor below the first has missed events."""
    return select(m.Organization.events_removed_through, m.Organization.event_seq).where(m.Organization.id == org_id)


async def log_bounds(db, org_id: int) -> tuple[int, int]:
    async with db.read() as session:
        row = (await session.execute(bounds_of(org_id))).first()
    return (row[0] or 0, row[1] or 0) if row else (0, 0)


async def _raise_floor(db, floors: dict[int, int]) -> None:
    """Record, in a transaction of its own, that events up to these seqs are going."""
    async with db.engine.begin() as conn:
        for org_id, through in floors.items():
            await conn.execute(update(m.Organization)
                               .where(m.Organization.id == org_id, m.Organization.events_removed_through < through)
                               .values(events_removed_through=through))


async def _drop_month(db, name: str) -> int | None:
    """Detach and drop one month partition: the number of its rows, or None when the lock
    could not be had within LOCK_TIMEOUT (the next round tries again)."""
    async with db.engine.connect() as conn:
        floors = (await conn.execute(text(f"SELECT org_id, max(seq), count(*) FROM {name} GROUP BY org_id"))).all()
    await _raise_floor(db, {org_id: top for org_id, top, _ in floors})
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PARTITION_LOCK_KEY})
            if await conn.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is None:
                return 0  # another process dropped it meanwhile
            await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            await conn.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
            await conn.execute(text(f"DROP TABLE {name}"))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        log.warning("event log retention: %s is busy, left for the next round", name)
        return None
    return sum(count for *_, count in floors)


async def _trim(db, org_id: int, floor: int, keep_through: int, cutoff: datetime | None, batch: int) -> int:
    """Delete the organization's oldest events while they are due (at or below `floor` or
    `keep_through`, or older than `cutoff`), oldest first, a batch per transaction; stops
    at the first event that is not due, so what stays is a run of the newest seqs."""
    removed, size = 0, 1  # one row first: most rounds find nothing due
    while True:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(m.Event.seq, m.Event.occurred_at).where(m.Event.org_id == org_id)
                                       .order_by(m.Event.seq).limit(size))).all()
        cut = 0
        for seq, occurred_at in rows:
            if not (seq <= floor or seq <= keep_through or (cutoff is not None and occurred_at < cutoff)):
                break
            cut = seq
        if not cut:
            return removed
        await _raise_floor(db, {org_id: cut})
        async with db.engine.begin() as conn:
            removed += (await conn.execute(delete(m.Event).where(m.Event.org_id == org_id, m.Event.seq <= cut))).rowcount
        if cut < rows[-1].seq or len(rows) < size:
            return removed
        size = batch


async def prune(db, now: datetime, *, days: int = 0, keep: int = 0, batch: int = BATCH) -> dict:
    """One retention round: events older than `days` days (0: no limit by age) and all but
    each organization's newest `keep` events (0: no limit by count) leave the log. By age
    on PostgreSQL, whole months go once all of a month is past the cutoff (no row deletes,
    no bloat). Returns {"partitions": the months dropped, "rows": events removed}."""
    cutoff = now - timedelta(days=days) if days > 0 else None
    async with db.engine.connect() as conn:
        partitioned = await conn.run_sync(is_partitioned)
        months = await conn.run_sync(month_partitions) if partitioned and cutoff else []
        orgs = (await conn.execute(select(
            m.Organization.id, m.Organization.event_seq, m.Organization.events_removed_through))).all()
    dropped, rows = [], 0
    for name, start in months:
        if next_month(start) > cutoff.replace(tzinfo=None):
            break
        count = await _drop_month(db, name)
        if count is None:
            break
        dropped.append(name)
        rows += count
    by_rows = cutoff if not partitioned else None
    if keep > 0 or by_rows is not None:
        for org_id, head, floor in orgs:
            rows += await _trim(db, org_id, floor or 0, (head or 0) - keep if keep > 0 else 0, by_rows, batch)
    return {"partitions": dropped, "rows": rows}
