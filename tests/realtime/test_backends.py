"""Several processes on one PostgreSQL database, and the LISTEN connection dropping."""
import asyncio
import os
import sys

import asyncpg
import pytest

from api.settings import Settings
from db.engine import Database
from resolvers.live import log_head
from tests.conftest import PG_ADMIN_DSN, free_port, make_org, start_server, wait_for
from tests.processes import ROOT, broadcast_dsn, two_processes
from tests.realtime.wsclient import BOARD_EVENTS, Http, open_socket


@pytest.mark.multiprocess
@pytest.mark.parametrize("broadcast", ["postgres", "redis"])
async def test_event_through_one_process_reaches_subscriber_on_another(pg_url, tmp_path, broadcast):
    async with two_processes(pg_url, tmp_path, broadcast) as (a, b, db):
        org = await make_org(db)
        start = await log_head(db, org.id)
        on_b = await open_socket(f"ws://127.0.0.1:{b.port}/graphql", org.tokens["marketing_member"])
        on_a = await open_socket(f"ws://127.0.0.1:{a.port}/graphql", org.tokens["legal_member"])
        await on_b.subscribe(BOARD_EVENTS, {"after": start})
        await on_a.subscribe(BOARD_EVENTS, {"after": start})
        via_a, via_b = Http(f"http://127.0.0.1:{a.port}", org), Http(f"http://127.0.0.1:{b.port}", org)
        for i in range(3):
            await via_a.create(f"From A {i}")
        await via_b.create("From B")
        # Replay may cover some of these; live delivery across processes covers the rest.
        assert await on_b.seqs(4, timeout=5) == [start + 1, start + 2, start + 3, start + 4]
        assert await on_a.seqs(4, timeout=5) == [start + 1, start + 2, start + 3, start + 4]
        # Strictly live: subscribed at the head, then a mutation on the other process.
        live_b = await open_socket(f"ws://127.0.0.1:{b.port}/graphql", org.tokens["product_member"])
        await live_b.subscribe(BOARD_EVENTS, {"after": start + 4})
        await via_a.create("Live from A")
        assert await live_b.seqs(1, timeout=5) == [start + 5]
        for sock in (on_a, on_b, live_b):
            await sock.close()
        await via_a.aclose()
        await via_b.aclose()


@pytest.mark.multiprocess
async def test_several_workers_on_memory_broadcast_refuse_to_start():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(free_port()),
        cwd=ROOT, env={**os.environ, "BATON_BROADCAST_URL": "memory://"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"memory://" in stderr and b"BATON_BROADCAST_URL" in stderr


async def test_dropped_listen_connection_reconnects_and_catches_up(pg_url):
    """pg_terminate_backend kills the LISTEN connection; events still arrive."""
    # No periodic catch-up here: only the reconnect can deliver these events.
    settings = Settings(database_url=pg_url, broadcast_url=broadcast_dsn(pg_url), catch_up_seconds=0)
    db = Database(pg_url)
    try:
        org = await make_org(db)
        async with start_server(settings) as server:
            http = Http(server.http, org)
            start = await log_head(db, org.id)
            sock = await open_socket(server.ws, org.tokens["sales_member"])
            await sock.subscribe(BOARD_EVENTS, {"after": start})
            await http.create("Before the drop")
            assert await sock.seqs(1) == [start + 1]

            backend = server.hub.backend
            old_pid = backend._conn.get_server_pid()
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", old_pid)
            finally:
                await admin.close()
            # Committed while (or just after) the connection is down: its publish may be lost.
            await http.create("During the drop")
            await wait_for(lambda: _true(backend.reconnects >= 1), timeout=10)
            assert backend._conn.get_server_pid() != old_pid
            assert await sock.seqs(1, timeout=5) == [start + 2]
            await http.create("After the reconnect")
            assert await sock.seqs(1, timeout=5) == [start + 3]
            await sock.close()
            await http.aclose()
    finally:
        await db.dispose()


async def _true(value: bool) -> bool:
    return value


async def test_a_subscriber_gone_while_redis_is_still_subscribing_leaves_nothing_behind(caplog):
    """CLIENT PAUSE holds Redis's answer to the channel's SUBSCRIBE while its only subscriber
    leaves: the channel stops as cancelled. (broadcaster's cleanup then raises KeyError for the
    channel it had not recorded yet; taken for a failed subscription, it left a pump task
    waiting forever per such subscriber.)"""
    import redis.asyncio as aioredis
    from api.live.hub import Hub

    hub = Hub("redis://127.0.0.1:6379/0", catch_up_seconds=0)
    await hub.connect()
    admin = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        async def subscriber():
            async with hub.subscribe(424242):
                pass

        await admin.execute_command("CLIENT", "PAUSE", "1500", "ALL")  # ends by itself
        task = asyncio.create_task(subscriber())
        await wait_for(lambda: _true(424242 in hub.channels), timeout=5)
        chan = hub.channels[424242]
        await asyncio.sleep(0.3)  # the channel's SUBSCRIBE is sent; Redis does not answer yet
        assert not chan.ready.is_set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.gather(chan.task, return_exceptions=True)
        assert chan.task.cancelled()
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("hub-pump:")]
        assert "broadcast subscription" not in caplog.text
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await hub.disconnect()
