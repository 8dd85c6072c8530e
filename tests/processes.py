"""Real `baton serve` processes for tests that need several (scale-out, faults, proxies)."""
import asyncio
import contextlib
import os
import sys

import httpx
import pytest

from db.engine import Database
from tests.conftest import free_port, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def broadcast_dsn(pg_url: str) -> str:
    return pg_url.replace("postgresql+asyncpg://", "postgres://", 1)


async def broadcast_url(broadcast: str, pg_url: str) -> str:
    """The BATON_BROADCAST_URL for "postgres" or "redis" (skips when Redis is not running)."""
    if broadcast == "postgres":
        return broadcast_dsn(pg_url)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 6379), 3)
        writer.close()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable at 127.0.0.1:6379; CI needs it")
        pytest.skip("Redis is not reachable")
    return "redis://127.0.0.1:6379/0"


class Process:
    """`baton serve` in a child process."""

    def __init__(self, env: dict, tmp_path, name: str):
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.log_path = tmp_path / f"{name}.log"
        self.proc = None

    async def start(self) -> "Process":
        self.log = open(self.log_path, "wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--log-level", "warning",
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log,
        )
        return self

    async def ready(self) -> None:
        async def up():
            if self.proc.returncode is not None:
                raise AssertionError(f"baton serve exited: {self.log_path.read_text()}")
            try:
                async with httpx.AsyncClient() as c:
                    return (await c.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(up, timeout=20)

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.log.close()


@contextlib.asynccontextmanager
async def two_processes(pg_url: str, tmp_path, broadcast: str):
    """(a, b, db): two ready `baton serve` processes on one PostgreSQL database, and a
    handle on it. Periodic catch-up off (60 s): only the broadcast can deliver within
    the tests' bounds."""
    url = await broadcast_url(broadcast, pg_url)
    env = {"BATON_DATABASE_URL": pg_url, "BATON_BROADCAST_URL": url, "BATON_CATCH_UP_SECONDS": "60"}
    a, b = Process(env, tmp_path, "a"), Process(env, tmp_path, "b")
    db = Database(pg_url)
    try:
        await asyncio.gather(a.start(), b.start())
        await asyncio.gather(a.ready(), b.ready())
        yield a, b, db
    finally:
        await asyncio.gather(a.stop(), b.stop())
        await db.dispose()
