"""Shared helpers: databases, server processes, statistics, /proc readings."""
import asyncio
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_BASE = os.environ.get("BENCH_PG_BASE", "postgresql://postgres@127.0.0.1:5432")


def db_url(name: str) -> str:
    return f"{PG_BASE}/{name}"


def sa_url(name: str) -> str:
    return "postgresql+asyncpg://" + db_url(name).split("://", 1)[1]


async def create_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def raise_fd_limit(want: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard) if hard != resource.RLIM_INFINITY else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency_summary(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tree_pids(pid: int) -> list[int]:
    """pid and its descendants (node spawns workers, uvicorn may too)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def tree_rss_kib(pid: int) -> int:
    total = 0
    for p in tree_pids(pid):
        try:
            total += rss_kib(p)
        except OSError:
            pass
    return total


class Proc:
    """A child process started by a benchmark, stopped (by its own pid/group) on exit."""

    def __init__(self, name: str, argv: list[str], env: dict | None = None, cwd: Path | None = None, log: Path | None = None):
        self.name = name
        self.log_path = log or (BENCH / "results" / f"{name}.log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.popen = subprocess.Popen(
            argv, env={**os.environ, **(env or {})}, cwd=cwd or ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def server_pid(self) -> int:
        """The process doing the work (uvicorn runs in the child itself here)."""
        return self.popen.pid

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-n:])
        except OSError:
            return ""


async def wait_http(url: str, proc: Proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                r = await client.get(url, timeout=2)
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{proc.name} did not answer {url} in {timeout}s:\n{proc.tail()}")


def start_baton(db_name: str, port: int, broadcast_url: str = "memory://", extra_env: dict | None = None) -> Proc:
    env = {
        "BATON_DATABASE_URL": db_url(db_name),
        "BATON_BROADCAST_URL": broadcast_url,
        "BATON_SECRET_KEY": "bench",
        "PYTHONUNBUFFERED": "1",
        # Capacity, not abuse protection, is measured: all load comes from one IP and a
        # few tokens, so the per-IP/per-token rate limits and the websocket caps (which
        # would clip the benchmark at 50 req/s, 10 sockets a user, 20 sockets of one
        # address opening at once and 4,000 in all) are lifted.
        "BATON_RATE_LIMIT_ENABLED": "false",
        "BATON_MAX_WS_CONNECTIONS_PER_USER": "100000",
        "BATON_MAX_UNAUTHENTICATED_SOCKETS_PER_IP": "100000",
        "BATON_MAX_SOCKETS": "100000",
        **(extra_env or {}),
    }
    argv = [PY, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning"]
    return Proc(f"baton-{port}", argv, env=env)


@contextmanager
def running(*procs: Proc):
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()


class GqlError(RuntimeError):
    pass


def check(body: dict) -> dict:
    if body.get("errors"):
        raise GqlError(str(body["errors"])[:500])
    return body["data"]
