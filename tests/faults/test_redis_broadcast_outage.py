"""Fault: the Redis broadcast server stops mid-traffic and comes back on the same
port. Two `baton serve` processes share one PostgreSQL database and fan out through
our own redis-server. Mutations never fail because Redis is down (the publish
failure is logged; the event is in the log), and every subscriber ends with every
seq of the log exactly once, in order: the one subscribed before the outage and
two that subscribe while Redis is down (the first live subscriptions of the
organization in that process)."""
import asyncio

import pytest

from db.engine import Database
from resolvers.live import log_head
from tests.conftest import make_org
from tests.faults.live import (
    RedisServer,
    Subscriber,
    assert_exactly_once_in_order,
    fresh_database,
    logged_seqs,
)
from tests.processes import Process
from tests.realtime.wsclient import Http

pytestmark = pytest.mark.faults

CATCH_UP_SECONDS = 1
MUTATION_BOUND = 3.0  # seconds a mutation may take while Redis is down


async def test_redis_broadcast_outage(tmp_path):
    redis = RedisServer(tmp_path / "redis.log")
    procs: list[Process] = []
    subscribers: list[Subscriber] = []
    https: list[Http] = []
    async with fresh_database() as url:
        db = Database(url)
        try:
            await redis.start()
            env = {"BATON_DATABASE_URL": url, "BATON_BROADCAST_URL": redis.url,
                   "BATON_CATCH_UP_SECONDS": str(CATCH_UP_SECONDS)}
            a, b = procs[:] = [Process(env, tmp_path, "a"), Process(env, tmp_path, "b")]
            await asyncio.gather(a.start(), b.start())
            await asyncio.gather(a.ready(), b.ready())
            org = await make_org(db)
            start = await log_head(db, org.id)
            via_a = Http(f"http://127.0.0.1:{a.port}", org)
            https.append(via_a)
            on_b = await Subscriber.open(f"ws://127.0.0.1:{b.port}/graphql", org.tokens["marketing_member"], start)
            subscribers.append(on_b)
            loop = asyncio.get_running_loop()

            async def mutate(title: str) -> float:
                started = loop.time()
                await via_a.create(title)  # asserts success, no userErrors
                return loop.time() - started

            for i in range(3):
                await mutate(f"before {i}")
            await on_b.reached(start + 3, timeout=5)

            redis.stop()
            slowest = 0.0
            for i in range(3):
                slowest = max(slowest, await mutate(f"during {i}"))
            # First live subscriptions of the organization on A, made while Redis is down.
            for who in ("legal_member", "product_member"):
                subscribers.append(
                    await Subscriber.open(f"ws://127.0.0.1:{a.port}/graphql", org.tokens[who], start)
                )
            for i in range(3, 6):
                slowest = max(slowest, await mutate(f"during {i}"))
            assert slowest < MUTATION_BOUND, f"a mutation took {slowest:.2f} s while Redis was down"
            # Delivered during the outage by the periodic catch-up.
            for sub in subscribers:
                await sub.reached(start + 9, timeout=CATCH_UP_SECONDS * 5)

            await redis.start()
            for i in range(3):
                await mutate(f"after {i}")
            head = await log_head(db, org.id)
            assert head == start + 12
            for sub in subscribers:
                await sub.reached(head, timeout=CATCH_UP_SECONDS * 5)
            await asyncio.sleep(CATCH_UP_SECONDS * 2)  # room for a late duplicate to show up

            logged = await logged_seqs(via_a, start)
            assert logged == list(range(start + 1, head + 1))
            for sub in subscribers:
                assert_exactly_once_in_order(sub.seqs, logged)
        finally:
            for sub in subscribers:
                await sub.close()
            for http in https:
                await http.aclose()
            await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)
            redis.stop()
            await db.dispose()


async def test_redis_listener_recovers_without_catch_up(tmp_path):
    """With the periodic catch-up off, only the broadcast delivers: after Redis comes
    back, the listener must be subscribed again (broadcaster's Redis reader task dies
    on the first connection error and never restarts) and the events committed while
    Redis was down must be read from the log."""
    from api.settings import Settings
    from tests.conftest import start_server

    redis = RedisServer(tmp_path / "redis.log")
    async with fresh_database() as url:
        db = Database(url)
        sub = http = None
        try:
            await redis.start()
            org = await make_org(db)
            settings = Settings(database_url=url, broadcast_url=redis.url, catch_up_seconds=0)
            async with start_server(settings) as server:
                start = await log_head(db, org.id)
                http = Http(server.http, org)
                sub = await Subscriber.open(server.ws, org.tokens["sales_member"], start)
                await http.create("before")
                await sub.reached(start + 1, timeout=5)
                redis.stop()
                await http.create("during")  # its publish fails; the log has it
                await redis.start()
                await sub.reached(start + 2, timeout=10)  # read from the log on reconnect
                await http.create("after")
                await sub.reached(start + 3, timeout=5)  # live again
                assert_exactly_once_in_order(sub.seqs, await logged_seqs(http, start))
                await sub.close()
                await http.aclose()
                sub = http = None
        finally:
            if sub is not None:
                await sub.close()
            if http is not None:
                await http.aclose()
            redis.stop()
            await db.dispose()
