"""The broker never drops a publish: many coroutines announcing at once on the
PostgreSQL and Redis brokers, every announcement received; an announcement naming
thousands of users stays under PostgreSQL's NOTIFY payload limit."""
import asyncio
import contextlib
import functools
import json

import pytest

from api.live.hub import Hub
from resolvers import opportunities
from resolvers.live import log_head, log_heads
from resolvers.uow import announcement
from tests.conftest import make_org
from tests.processes import broadcast_url
from tests.sqlcount import StatementCounter

CONCURRENT = 200


@pytest.mark.parametrize("broker", ["postgres", "redis"])
async def test_concurrent_publishes_all_arrive(pg_url, broker):
    url = await broadcast_url(broker, pg_url)
    hub = Hub(url)
    await hub.broadcast.connect()
    try:
        received = []
        async with hub.broadcast.subscribe("baton-publish-test") as subscriber:
            async def listen():
                async for event in subscriber:
                    received.append(json.loads(event.message)["n"])
                    if len(received) == CONCURRENT:
                        return

            listener = asyncio.create_task(listen())
            results = await asyncio.gather(*(hub.broadcast.publish("baton-publish-test", json.dumps({"n": n}))
                                             for n in range(CONCURRENT)), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            assert failed == [], f"{len(failed)} of {CONCURRENT} publishes failed, e.g. {failed[0]!r}"
            await asyncio.wait_for(listener, 20)
        assert sorted(received) == list(range(CONCURRENT))
    finally:
        await hub.broadcast.disconnect()


async def test_an_announcement_naming_thousands_of_users_fits_a_notify(pg_url):
    """A change that notifies 5,000 people (or numbers thousands of events) still goes
    out over PostgreSQL, whose NOTIFY refuses payloads of 8000 bytes or more."""
    seqs, users = list(range(1, 2001)), range(100_000, 105_000)
    too_big = json.dumps({"seq": seqs, "users": list(users)})
    assert len(too_big) > 8000
    message = announcement(seqs, users)
    assert message == {"seq": [2000], "catch_up": True, "head": 2000}  # every subscriber checks the log
    assert announcement([7, 8], {3, 1}) == {"seq": [7, 8], "users": [1, 3]}  # small ones stay exact
    hub = Hub(await broadcast_url("postgres", pg_url))
    await hub.broadcast.connect()
    try:
        async with hub.broadcast.subscribe("baton-size-test") as subscriber:
            await hub.broadcast.publish("baton-size-test", json.dumps(message))
            event = await asyncio.wait_for(subscriber.get(), 10)
        assert json.loads(event.message) == message
        with pytest.raises(Exception, match="payload string too long"):
            await hub.broadcast.publish("baton-size-test", too_big)
    finally:
        await hub.broadcast.disconnect()


async def test_the_periodic_catch_up_reads_every_organizations_head_in_one_statement(db):
    """A lost announcement is found by the periodic check: one statement per tick for
    all the organizations a process listens to, whatever their number."""
    orgs = [await make_org(db) for _ in range(4)]
    hub = Hub("memory://", catch_up_seconds=0, log_head=functools.partial(log_head, db), log_heads=functools.partial(log_heads, db))
    await hub.connect()
    try:
        async with contextlib.AsyncExitStack() as stack:
            feeds = [await stack.enter_async_context(hub.subscribe(o.id)) for o in orgs]
            # A change committed whose announcement never went out (a failed publish).
            ctx = orgs[2].ctx("sales_member")
            ctx.publish = _drop
            _, errors = await opportunities.create_opportunity(ctx, {"title": "Unannounced", "account_name": "Acme"})
            assert errors == []
            with StatementCounter(db.engine) as counter:
                await hub.check_heads()
            assert counter.count == 1
            batch = await asyncio.wait_for(feeds[2].next(), 5)
            assert [p.catch_up for p in batch.pages] == [True]
            assert all(not f._pages for i, f in enumerate(feeds) if i != 2)  # the others were not woken
    finally:
        await hub.disconnect()


async def _drop(org_id, message):
    raise ConnectionError("the broker is down")
