"""Fault: the process serving a live client is SIGKILLed (no graceful close, no
goodbye on the socket). The client reconnects to another process with
`after: <last seq it saw>` and ends with every seq exactly once, in order, although
mutations kept committing before it reconnected."""
import asyncio
import os
import signal

import pytest

from db.engine import Database
from resolvers.live import log_head
from tests.conftest import make_org
from tests.faults.live import (
    Subscriber,
    assert_exactly_once_in_order,
    fresh_database,
    logged_seqs,
)
from tests.processes import Process, broadcast_dsn
from tests.realtime.wsclient import Http

pytestmark = pytest.mark.faults


async def test_sigkill_process_resume(tmp_path):
    procs: list[Process] = []
    subscribers: list[Subscriber] = []
    https: list[Http] = []
    async with fresh_database() as url:
        db = Database(url)
        try:
            env = {"BATON_DATABASE_URL": url, "BATON_BROADCAST_URL": broadcast_dsn(url), "BATON_CATCH_UP_SECONDS": "1"}
            a, b = procs[:] = [Process(env, tmp_path, "a"), Process(env, tmp_path, "b")]
            await asyncio.gather(a.start(), b.start())
            await asyncio.gather(a.ready(), b.ready())
            org = await make_org(db)
            start = await log_head(db, org.id)
            via_a, via_b = Http(f"http://127.0.0.1:{a.port}", org), Http(f"http://127.0.0.1:{b.port}", org)
            https += [via_a, via_b]
            token = org.tokens["legal_member"]
            first = await Subscriber.open(f"ws://127.0.0.1:{a.port}/graphql", token, start)
            subscribers.append(first)

            for i in range(3):
                await via_a.create(f"through A {i}")
            for i in range(2):
                await via_b.create(f"through B {i}")
            await first.reached(start + 5, timeout=5)

            os.kill(a.proc.pid, signal.SIGKILL)
            await asyncio.wait_for(a.proc.wait(), 10)
            assert a.proc.returncode == -signal.SIGKILL
            await asyncio.wait_for(first.closed.wait(), 10)  # the client notices the dead socket
            await first.close()
            # Committed after the kill, before the client comes back.
            for i in range(3):
                await via_b.create(f"while away {i}")

            seen = list(first.seqs)
            resumed = await Subscriber.open(f"ws://127.0.0.1:{b.port}/graphql", token, seen[-1])
            subscribers.append(resumed)
            for i in range(2):
                await via_b.create(f"after resume {i}")
            head = await log_head(db, org.id)
            assert head == start + 10
            await resumed.reached(head, timeout=5)
            await asyncio.sleep(1.5)  # room for a late duplicate (one catch-up period)

            logged = await logged_seqs(via_b, start)
            assert logged == list(range(start + 1, head + 1))
            assert_exactly_once_in_order(seen + resumed.seqs, logged)
        finally:
            for sub in subscribers:
                await sub.close()
            for http in https:
                await http.aclose()
            await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)
            await db.dispose()
