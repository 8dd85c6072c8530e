"""The event log by month on PostgreSQL (migration 0018, db/partitions.py) and retention on
both databases: events land in their month's partition, a month created late takes its
rows out of the default partition, retention drops whole months (PostgreSQL) or rows
(SQLite), and the migration keeps every event, both ways."""
import asyncio
from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import func, select, text

from api.jobs import log_upkeep
from db import models as m
from db.engine import Database
from db.migrate import alembic_config, upgrade
from resolvers import opportunities as rules
from tests.api.test_cli import baton
from tests.conftest import Clock, make_org
from tests.faults.live import fresh_database


def at(year: int, month: int, day: int) -> Clock:
    clock = Clock()
    clock.now = datetime(year, month, day, 12, tzinfo=timezone.utc)
    return clock


async def card_at(org, clock: Clock, title: str) -> int:
    opp, errors = await rules.create_opportunity(org.ctx("sales_member", clock), {"title": title, "account_name": "Northwind"})
    assert errors == []
    return opp.id


async def partition_of(db: Database) -> dict[str, str]:
    """Card title -> the partition holding its OPPORTUNITY_CREATED event."""
    async with db.read() as s:
        rows = await s.execute(text(
            "SELECT e.tableoid::regclass::text, o.title FROM events e JOIN opportunities o ON o.id = e.opportunity_id "
            "WHERE e.type = 'OPPORTUNITY_CREATED'"))
        return {title: partition for partition, title in rows}


async def months(db: Database) -> list[str]:
    async with db.read() as s:
        return sorted((await s.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"
        ))).scalars())


@pytest.fixture
async def pg_db():
    async with fresh_database() as url:
        database = Database(url)
        yield database
        await database.dispose()


async def test_events_land_in_their_month_and_a_late_month_takes_its_rows_from_the_default(pg_db):
    now = datetime.now(timezone.utc)
    expected = {f"events_p{now:%Y%m}", "events_default"}
    assert expected <= set(await months(pg_db)) and len(await months(pg_db)) == 4  # this month, two ahead, default
    org = await make_org(pg_db)
    await card_at(org, Clock(), "Now")
    await card_at(org, at(2020, 2, 10), "Long ago")  # no partition for that month yet
    assert await partition_of(pg_db) == {"Now": f"events_p{now:%Y%m}", "Long ago": "events_default"}
    # The alerts leader's upkeep at that time creates the month (and two ahead), moving the row.
    assert await log_upkeep(pg_db, at(2020, 2, 11)(), 0) is None
    assert {"events_p202002", "events_p202003", "events_p202004"} <= set(await months(pg_db))
    assert (await partition_of(pg_db))["Long ago"] == "events_p202002"
    async with pg_db.read() as s:
        assert await s.scalar(text("SELECT count(*) FROM events_default")) == 0
        seqs = list((await s.execute(select(m.Event.seq).where(m.Event.org_id == org.id).order_by(m.Event.seq))).scalars())
    assert seqs == list(range(1, len(seqs) + 1))  # one gapless log across partitions
    # Running it again creates nothing.
    before = await months(pg_db)
    await log_upkeep(pg_db, at(2020, 2, 11)(), 0)
    assert await months(pg_db) == before


async def test_retention_drops_whole_months_on_postgresql(pg_db):
    org = await make_org(pg_db)
    for month in (1, 2, 3):
        await log_upkeep(pg_db, at(2020, month, 1)(), 0)
        await card_at(org, at(2020, month, 15), f"Card {month}")
    # Keep 30 days at 20 March: the cutoff is 19 February; only January ended before it.
    pruned = await log_upkeep(pg_db, at(2020, 3, 20)(), 30)
    assert pruned["partitions"] == ["events_p202001"] and pruned["rows"] == 1
    assert set(await partition_of(pg_db)) == {"Card 2", "Card 3"}
    assert "events_p202001" not in await months(pg_db)
    # Nothing more goes until February has ended before the cutoff.
    assert (await log_upkeep(pg_db, at(2020, 3, 25)(), 30))["rows"] == 0
    assert (await log_upkeep(pg_db, at(2020, 4, 1)(), 30))["partitions"] == ["events_p202002"]


async def test_retention_deletes_rows_where_the_log_is_one_table(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}"
    await upgrade(url)
    db = Database(url)
    try:
        org = await make_org(db)
        for month in (1, 2, 3):
            await card_at(org, at(2020, month, 15), f"Card {month}")
        pruned = await log_upkeep(db, at(2020, 3, 20)(), 30)
        assert pruned == {"partitions": [], "rows": 2}  # January's and February's (before 19 February)
        async with db.read() as s:
            titles = (await s.execute(select(m.Opportunity.title).join(m.Event, m.Event.opportunity_id == m.Opportunity.id))).scalars()
            assert list(titles) == ["Card 3"]
        assert await log_upkeep(db, at(2020, 3, 20)(), 0) is None  # 0 keeps everything
        # `baton prune-events` runs the same upkeep now: March 2020 is long past.
        cli = baton(tmp_path, "prune-events", "--older-than-days", "30",
                    env_extra={"BATON_DATABASE_URL": url})
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.startswith("1 events before ") and cli.stdout.rstrip().endswith("UTC removed.")
        async with db.read() as s:
            assert await s.scalar(select(func.count()).select_from(m.Event)) == 0
        refused = baton(tmp_path, "prune-events", "--older-than-days", "0", env_extra={"BATON_DATABASE_URL": url})
        assert refused.returncode == 2 and "at least 1" in refused.stderr
    finally:
        await db.dispose()


async def test_the_migration_keeps_every_event_both_ways():
    async with fresh_database("0017") as url:
        db = Database(url)
        async with db.write() as s:
            await s.execute(text("INSERT INTO organizations (id, name, event_seq, created_at) VALUES (1, 'Old', 3, now())"))
            for seq, when in ((1, "2026-09-03 10:00:00"), (2, "2026-10-04 11:00:00"), (3, "2026-10-05 12:00:00")):
                await s.execute(text(
                    "INSERT INTO events (org_id, seq, type, occurred_at, department_keys) "
                    f"VALUES (1, {seq}, 'OPPORTUNITY_CREATED', '{when}', '[]')"))
        await db.dispose()
        await upgrade(url)
        db = Database(url)
        try:
            async with db.read() as s:
                rows = (await s.execute(text("SELECT seq, tableoid::regclass::text FROM events ORDER BY seq"))).all()
            assert rows == [(1, "events_p202609"), (2, "events_p202610"), (3, "events_p202610")]
            async with db.write() as s:  # the id sequence carries on
                new_id = await s.scalar(text(
                    "INSERT INTO events (org_id, seq, type, occurred_at, department_keys) "
                    "VALUES (1, 4, 'OPPORTUNITY_CREATED', now() AT TIME ZONE 'utc', '[]') RETURNING id"))
                assert new_id == await s.scalar(select(func.max(m.Event.id))) and new_id > 3
        finally:
            await db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0017")
        db = Database(url)
        try:
            async with db.read() as s:
                assert await s.scalar(text("SELECT count(*) FROM pg_partitioned_table")) == 0
                assert list((await s.execute(text("SELECT seq FROM events ORDER BY seq"))).scalars()) == [1, 2, 3, 4]
        finally:
            await db.dispose()
        await upgrade(url)
