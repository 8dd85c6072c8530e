"""The event log's monthly partitions on PostgreSQL, and retention.

On PostgreSQL `events` is partitioned by RANGE (occurred_at): one partition per calendar
month (`events_pYYYYMM`, UTC) and `events_default` for any time no month partition covers
(a clock far off, a month not created yet), so an insert never fails. The alerts leader
keeps the current month and the next `MONTHS_AHEAD` created; retention (db/retention.py)
detaches and drops whole months older than its cutoff instead of deleting rows. SQLite
has one table.

Partition maintenance takes a transaction-scoped advisory lock, so processes starting
together do not create the same month twice. The functions take a synchronous connection
(alembic's); async callers use `AsyncConnection.run_sync`."""
import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import text

log = logging.getLogger("baton.partitions")
MONTHS_AHEAD = 2
PARTITION_LOCK_KEY = 0x62617401  # beside the alerts leader's lock id (api/jobs.py)
DEFAULT_PARTITION = "events_default"
_NAME = re.compile(r"^events_p(\d{4})(\d{2})$")


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)


def next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def partition_name(start: datetime) -> str:
    return f"events_p{start:%Y%m}"


def _bound(moment: datetime) -> str:
    # occurred_at is a naive UTC timestamp (db.types.UTCDateTime).
    return f"'{moment:%Y-%m-%d %H:%M:%S}'"


def is_partitioned(conn) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.scalar(text(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('events')")))


def month_partitions(conn) -> list[tuple[str, datetime]]:
    """(name, first day of its month) of the month partitions, oldest first."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('events')"))
    found = []
    for (name,) in rows:
        if match := _NAME.match(name):
            found.append((name, datetime(int(match[1]), int(match[2]), 1)))
    return sorted(found, key=lambda item: item[1])


def create_month(conn, start: datetime) -> bool:
    """Create the partition of the month beginning at `start` unless it exists, moving any
    of its rows out of the default partition first (PostgreSQL refuses a new partition
    while the default one holds rows of its range). True when it was created."""
    name = partition_name(start)
    if conn.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
        return False
    low, high = _bound(start), _bound(next_month(start))
    in_range = f"occurred_at >= {low} AND occurred_at < {high}"
    strays = conn.scalar(text(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE {in_range}"))
    if strays:
        conn.execute(text(f"CREATE TEMPORARY TABLE event_strays ON COMMIT DROP AS "
                                f"SELECT * FROM {DEFAULT_PARTITION} WHERE {in_range}"))
        conn.execute(text(f"DELETE FROM {DEFAULT_PARTITION} WHERE {in_range}"))
    conn.execute(text(f"CREATE TABLE {name} PARTITION OF events FOR VALUES FROM ({low}) TO ({high})"))
    if strays:
        conn.execute(text(f"INSERT INTO {name} SELECT * FROM event_strays"))
        conn.execute(text("DROP TABLE event_strays"))
    log.info("event log partition %s created (%d rows moved from %s)", name, strays, DEFAULT_PARTITION)
    return True


def ensure_months(conn, now: datetime, *, since: datetime | None = None) -> list[str]:
    """The partitions from `since`'s month (default: now's) to MONTHS_AHEAD months after
    now's; the names of those created. A no-op where the log is not partitioned."""
    if not is_partitioned(conn):
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PARTITION_LOCK_KEY})
    start, last = month_start(since or now), month_start(now)
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    created = []
    while start <= last:
        if create_month(conn, start):
            created.append(partition_name(start))
        start = next_month(start)
    return created
