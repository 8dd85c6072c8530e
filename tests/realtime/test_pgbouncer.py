"""Baton behind PgBouncer in transaction pooling mode (Debian's `pgbouncer`, from examples/pgbouncer.ini):
a representative part of the suite runs through it on PostgreSQL, with BATON_DB_PGBOUNCER
set as docs/operations.md tells operators to."""
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import Database
from tests.conftest import PG_ADMIN_DSN, pg_reachable
from tests.proxies import PgBouncer, need

ROOT = Path(__file__).resolve().parents[2]
# Story, concurrency, alerts (their leader lock) and moves: every kind of statement Baton issues.
SUBSET = ["tests/api/test_story.py", "tests/api/test_concurrency.py", "tests/api/test_alerts.py", "tests/api/test_workflow_gates.py"]


@pytest.fixture
async def pgbouncer():
    if not await pg_reachable():
        if os.environ.get("CI"):
            pytest.fail("CI needs PostgreSQL")
        pytest.skip("PostgreSQL is not reachable")
    need("pgbouncer")
    # Few server connections for many clients: transactions of different clients share them.
    bouncer = await PgBouncer(pool_size=4).start()
    try:
        yield {"dsn": bouncer.dsn(PG_ADMIN_DSN.rsplit("/", 1)[1])}
    finally:
        bouncer.stop()


async def test_many_clients_share_few_server_connections(pgbouncer):
    """30 concurrent clients through a pool of 4 server connections: with statement caching
    on they collide on prepared statement names; in Baton's PgBouncer mode every
    transaction succeeds, served by at most 4 PostgreSQL backends."""
    db = Database(pgbouncer["dsn"], pool_size=30, max_overflow=0, pgbouncer=True)
    backends = set()

    async def one(i: int) -> int:
        for _ in range(5):
            async with db.write() as session:
                assert (await session.execute(text("SELECT CAST(:i AS integer) + 1"), {"i": i})).scalar() == i + 1
                backends.add((await session.execute(text("SELECT pg_backend_pid()"))).scalar())
        async with db.read_one() as session:
            return (await session.execute(text("SELECT CAST(:i AS integer)"), {"i": i})).scalar()

    try:
        assert sorted(await asyncio.gather(*(one(i) for i in range(30)))) == list(range(30))
    finally:
        await db.dispose()
    assert 1 <= len(backends) <= 4, backends


def test_suite_subset_passes_through_pgbouncer(pgbouncer):
    """The PostgreSQL half of a representative subset, every connection through PgBouncer."""
    env = {**os.environ, "BATON_TEST_PG": pgbouncer["dsn"], "BATON_DB_PGBOUNCER": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "postgres", *SUBSET],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    tail = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary
