"""Retention of the event log (db/retention.py) and its honest answer, on SQLite and
PostgreSQL: each organization keeps a run of its newest seqs, removed in batches that do
not hold writers; a cursor older than what is kept answers RESYNC_REQUIRED on `events` and
`boardEvents` with the oldest seq kept; `headSeq`/`oldestSeq` say where the log stands."""
import asyncio
import contextlib
from datetime import datetime, timezone

import httpx
import pytest
from sqlalchemy import event, select, text

from api.jobs import log_upkeep
from api.settings import Settings
from db import models as m
from db import retention
from db.engine import Database
from db.migrate import upgrade
from db.retention import log_bounds, prune
from resolvers import opportunities as rules
from tests.api.test_cli import baton
from tests.conftest import Clock, make_org, start_server
from tests.faults.live import fresh_database
from tests.realtime.wsclient import BOARD_EVENTS, open_socket

EVENTS = "query($after: Int) { events(after: $after, first: 100) { edges { node { seq } } headSeq oldestSeq } }"


@pytest.fixture(params=["sqlite", "postgres"])
async def own(request, tmp_path):
    """A database of its own (retention acts on every organization in it) and a live server on it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}"
        await upgrade(url)
        database = contextlib.nullcontext(url)
    else:
        database = fresh_database()
    async with database as url:
        db = Database(url)
        try:
            async with start_server(Settings(database_url=url, broadcast_url="memory://", catch_up_seconds=0.5)) as server:
                yield db, server
        finally:
            await db.dispose()


def at(year: int, month: int, day: int) -> Clock:
    clock = Clock()
    clock.now = datetime(year, month, day, 12, tzinfo=timezone.utc)
    return clock


async def cards(org, count: int, clock=None) -> None:
    for i in range(count):
        _, errors = await rules.create_opportunity(org.ctx("sales_member", clock), {"title": f"Deal {i}", "account_name": "Northwind"})
        assert errors == []


async def seqs(db: Database, org_id: int) -> list[int]:
    async with db.read() as s:
        return list((await s.execute(select(m.Event.seq).where(m.Event.org_id == org_id).order_by(m.Event.seq))).scalars())


async def events(server, org, after=None) -> dict:
    async with httpx.AsyncClient(base_url=server.http) as client:
        response = await client.post("/graphql", json={"query": EVENTS, "variables": {"after": after}},
                                     headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_keeping_n_events_leaves_each_organization_its_newest_run(own):
    db, _ = own
    busy, quiet = await make_org(db), await make_org(db)
    await cards(busy, 7)
    await cards(quiet, 2)
    _, head = await log_bounds(db, busy.id)
    assert head >= 7 and await seqs(db, quiet.id) == [1, 2]

    deleted = []  # rows each DELETE took: the batches

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE"):
            deleted.append(cursor.rowcount)

    event.listen(db.engine.sync_engine, "after_cursor_execute", count)
    try:
        pruned = await prune(db, datetime.now(timezone.utc), keep=3, batch=2)
    finally:
        event.remove(db.engine.sync_engine, "after_cursor_execute", count)
    assert pruned == {"partitions": [], "rows": head - 3}
    assert sum(deleted) == head - 3 and max(deleted) <= 2 and len(deleted) >= (head - 3) // 2
    assert await seqs(db, busy.id) == [head - 2, head - 1, head]
    assert await log_bounds(db, busy.id) == (head - 3, head)
    assert await seqs(db, quiet.id) == [1, 2] and await log_bounds(db, quiet.id) == (0, 2)
    # A second round finds nothing due.
    assert (await prune(db, datetime.now(timezone.utc), keep=3, batch=2))["rows"] == 0


async def test_a_cursor_older_than_what_is_kept_answers_resync_required(own):
    db, server = own
    org = await make_org(db)
    await cards(org, 6)
    _, head = await log_bounds(db, org.id)
    whole = await events(server, org, after=0)
    assert "errors" not in whole and whole["data"]["events"]["oldestSeq"] == 1
    assert whole["data"]["events"]["headSeq"] == head

    await prune(db, datetime.now(timezone.utc), keep=2)
    floor = head - 2
    for after in (0, floor - 1):
        refused = await events(server, org, after=after)
        assert refused["data"] is None
        (error,) = refused["errors"]
        assert error["extensions"] == {"code": "RESYNC_REQUIRED", "oldestSeq": floor + 1}
        assert error["message"] == (f"Events up to seq {floor} are no longer kept, so not every event after {after} "
                                    "can be sent: reload, then resume from the newest seq")
    # From the oldest kept on, and without a cursor, the log answers as before.
    kept = (await events(server, org, after=floor))["data"]["events"]
    assert [e["node"]["seq"] for e in kept["edges"]] == [floor + 1, floor + 2]
    assert (kept["headSeq"], kept["oldestSeq"]) == (head, floor + 1)
    fresh = (await events(server, org))["data"]["events"]
    assert [e["node"]["seq"] for e in fresh["edges"]] == [floor + 1, floor + 2]


async def test_board_events_from_a_removed_seq_answer_resync_required(own):
    db, server = own
    org = await make_org(db)
    await cards(org, 5)
    _, head = await log_bounds(db, org.id)
    await prune(db, datetime.now(timezone.utc), keep=2)
    floor = head - 2

    sock = await open_socket(server.ws, org.tokens["sales_viewer"])
    refused = await sock.subscribe(BOARD_EVENTS, {"after": floor - 1})
    message = await sock.recv()
    assert (message["id"], message["type"], message["payload"]["data"]) == (refused, "next", None)
    assert message["payload"]["errors"][0]["extensions"] == {"code": "RESYNC_REQUIRED", "oldestSeq": floor + 1}
    assert await sock.recv() == {"id": refused, "type": "complete"}
    # The same socket resumes from the oldest kept, then goes live.
    await sock.subscribe(BOARD_EVENTS, {"after": floor})
    assert await sock.seqs(2) == [floor + 1, floor + 2]
    await cards(org, 1)
    assert await sock.seqs(1) == [head + 1]
    await sock.close()


async def test_a_log_emptied_by_age_still_answers_for_the_seqs_it_had(own):
    """Every event removed: nothing is left to skip over, and the answer is still honest."""
    db, server = own
    org = await make_org(db)
    await log_upkeep(db, at(2020, 1, 1)(), 0)  # January 2020's partition on PostgreSQL
    await cards(org, 3, at(2020, 1, 15))
    _, head = await log_bounds(db, org.id)
    pruned = await prune(db, datetime.now(timezone.utc), days=30)
    assert pruned["rows"] == head and await seqs(db, org.id) == []
    assert await log_bounds(db, org.id) == (head, head)
    assert (await events(server, org, after=head - 1))["errors"][0]["extensions"]["code"] == "RESYNC_REQUIRED"
    empty = (await events(server, org, after=head))["data"]["events"]
    assert (empty["edges"], empty["headSeq"], empty["oldestSeq"]) == ([], head, head + 1)
    sock = await open_socket(server.ws, org.tokens["sales_viewer"])
    await sock.subscribe(BOARD_EVENTS, {"after": head - 1})
    message = await sock.recv()
    assert message["payload"]["errors"][0]["extensions"] == {"code": "RESYNC_REQUIRED", "oldestSeq": head + 1}
    await sock.close()


async def test_retention_rounds_beside_writers_lose_no_write_and_leave_no_hole(own):
    db, _ = own
    org = await make_org(db)
    await cards(org, 4)
    writing = asyncio.create_task(cards(org, 24))
    rounds = 0
    while not writing.done():
        await prune(db, datetime.now(timezone.utc), keep=4, batch=2)
        rounds += 1
        await asyncio.sleep(0)
    await writing  # every creation committed (a failure would raise here)
    await prune(db, datetime.now(timezone.utc), keep=4, batch=2)
    floor, head = await log_bounds(db, org.id)
    assert rounds > 1 and head >= 28
    assert (floor, await seqs(db, org.id)) == (head - 4, list(range(head - 3, head + 1)))


async def test_a_month_a_reader_holds_is_left_for_the_next_round(own, monkeypatch):
    db, _ = own
    if db.engine.dialect.name != "postgresql":
        pytest.skip("months are partitions on PostgreSQL only")
    org = await make_org(db)
    await log_upkeep(db, at(2020, 1, 1)(), 0)
    await cards(org, 2, at(2020, 1, 15))
    monkeypatch.setattr(retention, "LOCK_TIMEOUT", "200ms")
    async with db.engine.connect() as reader:
        await reader.execute(text("BEGIN"))
        await reader.execute(text("SELECT count(*) FROM events_p202001"))  # holds the month until it ends
        busy = await prune(db, datetime.now(timezone.utc), days=30)
        await reader.rollback()
    # Nothing was dropped, but the floor already says the month is going: readers resync meanwhile.
    assert busy == {"partitions": [], "rows": 0}
    assert await log_bounds(db, org.id) == (2, 2) and await seqs(db, org.id) == [1, 2]
    done = await prune(db, datetime.now(timezone.utc), days=30)
    assert done["partitions"][0] == "events_p202001" and done["rows"] == 2 and await seqs(db, org.id) == []


def test_prune_events_by_count_from_the_command_line(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {"BATON_DATABASE_URL": url}
    assert baton(tmp_path, "demo", env_extra=env).returncode == 0
    done = baton(tmp_path, "prune-events", "--keep-events", "5", env_extra=env)
    assert done.returncode == 0, done.stderr
    removed = int(done.stdout.split()[0])
    assert removed > 0 and done.stdout.rstrip().endswith("events beyond each organization's newest 5 removed.")
    again = baton(tmp_path, "prune-events", "--keep-events", "5", env_extra=env)
    assert again.stdout.startswith("0 events beyond")
    missing = baton(tmp_path, "prune-events", env_extra=env)
    assert missing.returncode == 2 and "--older-than-days N and/or --keep-events N" in missing.stderr
