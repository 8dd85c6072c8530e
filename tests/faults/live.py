"""Helpers for the live-delivery fault tests: a throwaway PostgreSQL database, a
redis-server of our own that can be stopped and restarted on the same port, and a
websocket subscriber that records every seq it receives (in a background task)."""
import asyncio
import contextlib
import shutil
import subprocess
import uuid

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from db.migrate import upgrade
from tests.conftest import PG_ADMIN_DSN, free_port, pg_reachable, wait_for
from tests.realtime.wsclient import BOARD_EVENTS, Http, open_socket

EVENTS = "query($after: Int, $first: Int) { events(after: $after, first: $first) { edges { node { seq } } } }"


@contextlib.asynccontextmanager
async def fresh_database(revision: str = "head"):
    """A uniquely named database on 127.0.0.1:5432, migrated to `revision`; dropped at the end."""
    if not await pg_reachable():
        pytest.skip("PostgreSQL is not reachable")
    name = f"baton_fault_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await upgrade(url, revision)
        yield url
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class RedisServer:
    """redis-server on a free 127.0.0.1 port, no persistence; stop() and start() again
    reuse the port."""

    def __init__(self, log_path):
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )

        async def answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log_path.read_text()}")
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 1)
            except (OSError, asyncio.TimeoutError):
                return False
            try:
                writer.write(b"PING\r\n")
                return (await asyncio.wait_for(reader.readline(), 1)) == b"+PONG\r\n"
            finally:
                writer.close()

        await wait_for(answers, timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Subscriber:
    """A boardEvents subscription whose data messages a background task records."""

    def __init__(self, sock):
        self.sock = sock
        self.seqs: list[int] = []
        self.closed = asyncio.Event()
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, ws_url: str, token: str, after: int) -> "Subscriber":
        sock = await open_socket(ws_url, token)
        await sock.subscribe(BOARD_EVENTS, {"after": after})
        return cls(sock)

    async def _read(self) -> None:
        try:
            while True:
                try:
                    _, data = await self.sock.next_data(timeout=3600)
                except ConnectionClosed:
                    return
                self.seqs.append(data["boardEvents"]["seq"])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            raise
        finally:
            self.closed.set()

    @property
    def last(self) -> int | None:
        return self.seqs[-1] if self.seqs else None

    async def reached(self, seq: int, timeout: float) -> None:
        async def done():
            if self.error is not None:
                raise AssertionError(f"subscriber failed: {self.error!r}")
            return bool(self.seqs) and self.seqs[-1] >= seq

        try:
            await wait_for(done, timeout=timeout)
        except AssertionError:
            raise AssertionError(f"subscriber did not reach seq {seq} in {timeout} s; has {self.seqs}") from None

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sock.close(), 5)


async def logged_seqs(http: Http, after: int) -> list[int]:
    """Every seq in the organization's log after `after` (the events query)."""
    seqs: list[int] = []
    while True:
        data = await http.ok(EVENTS, {"after": after, "first": 100})
        page = [e["node"]["seq"] for e in data["events"]["edges"]]
        if not page:
            return seqs
        seqs.extend(page)
        after = page[-1]


def assert_exactly_once_in_order(received: list[int], logged: list[int]) -> None:
    duplicates = sorted({s for s in received if received.count(s) > 1})
    missing = sorted(set(logged) - set(received))
    assert not duplicates, f"delivered more than once: {duplicates}"
    assert not missing, f"lost: {missing}"
    assert received == logged, f"out of order or unexpected: {received} vs log {logged}"
