"""PgBouncer and HAProxy (Debian's packages) started from the shipped example configs,
examples/pgbouncer.ini and examples/haproxy.cfg, with ports and test-only settings
rewritten: what the tests and `python -m bench scale` run is what docs/operations.md shows."""
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import free_port

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class MissingTool(RuntimeError):
    pass


def find(name: str) -> str:
    binary = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if binary is None:
        raise MissingTool(f"{name} is not installed (Debian package {name}; `make proxies` installs it)")
    return binary


def need(name: str) -> None:
    """In a test: fail on CI, skip elsewhere, when `name` is not installed."""
    try:
        find(name)
    except MissingTool as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def haproxy_config(port: int, servers: list[int], check_every: str = "200ms") -> str:
    text = (EXAMPLES / "haproxy.cfg").read_text()
    text = text.replace("bind 0.0.0.0:8000", f"bind 127.0.0.1:{port}")
    text = re.sub(r"maxconn \d+", "maxconn 1000", text)  # within the test machine's open-files limit
    text = re.sub(r"^  server .*\n", "", text, flags=re.M)
    return text + "".join(f"  server baton{i + 1} 127.0.0.1:{p} check inter {check_every} fall 2 rise 2\n" for i, p in enumerate(servers))


def pgbouncer_config(port: int, workdir: Path, pool_size: int) -> str:
    text = (EXAMPLES / "pgbouncer.ini").read_text()
    # Every database name (the tests make their own), no passwords (the local server trusts).
    text = re.sub(r"^baton = .*$", "* = host=127.0.0.1 port=5432", text, flags=re.M)
    text = re.sub(r"^listen_port = .*$", f"listen_port = {port}\nunix_socket_dir =", text, flags=re.M)
    text = re.sub(r"^auth_type = .*$", "auth_type = trust", text, flags=re.M)
    text = re.sub(r"^auth_file = .*$", f"auth_file = {workdir / 'users.txt'}", text, flags=re.M)
    return re.sub(r"^default_pool_size = .*$", f"default_pool_size = {pool_size}", text, flags=re.M)


class HAProxy:
    def __init__(self, workdir: Path, servers: list[int], check_every: str = "200ms"):
        binary = find("haproxy")
        self.port = free_port()
        config = workdir / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, servers, check_every))
        self.log = open(workdir / "haproxy.log", "wb")
        self.proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        self.log_path = workdir / "haproxy.log"

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited: {self.log_path.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class PgBouncer:
    """PgBouncer in transaction mode on a free port; `dsn` names the database `database`."""

    def __init__(self, pool_size: int = 4):
        self.binary = find("pgbouncer")
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="baton-pgbouncer-"))
        self.workdir.chmod(0o755)
        (self.workdir / "users.txt").write_text('"postgres" ""\n')
        (self.workdir / "pgbouncer.ini").write_text(pgbouncer_config(self.port, self.workdir, pool_size))
        for path in self.workdir.iterdir():
            path.chmod(0o644)
        self.proc = None

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def start(self) -> "PgBouncer":
        # It refuses to run as root; -u drops to the postgres account when we are root.
        cmd = [self.binary, str(self.workdir / "pgbouncer.ini")] + (["-u", "postgres"] if os.geteuid() == 0 else [])
        self.log = open(self.workdir / "pgbouncer.log", "wb")  # written through our descriptor
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                conn = await asyncpg.connect(self.dsn("postgres"), statement_cache_size=0)
                await conn.close()
                return self
            except (OSError, asyncpg.PostgresError):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"pgbouncer exited: {(self.workdir / 'pgbouncer.log').read_text()}")
                await asyncio.sleep(0.1)
        raise RuntimeError("pgbouncer did not accept connections in 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
            self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
