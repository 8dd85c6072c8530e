"""Shared fixtures. Storage tests run on SQLite and on PostgreSQL: each run makes its
own uniquely named PostgreSQL database and drops it at the end. Every test gets a
fresh organization, so tests never see each other's data or event seqs."""
import asyncio
import hashlib
import itertools
import os
import shutil
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select, update

from api.app import create_app
from api.settings import Settings
from db import models as m
from db import statements
from db.engine import Database
from db.migrate import upgrade
from resolvers.auth import hash_password, issue_token
from resolvers.context import Ctx, Viewer
from resolvers.setup import create_organization, create_user
from tests import mutation_suites

PG_ADMIN_DSN = os.environ.get("BATON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# Set (with BATON_TEST_PG pointing at PgBouncer) to run the PostgreSQL tests through it (tests/realtime/test_pgbouncer.py).
PGBOUNCER = Settings(_env_file=None).db_pgbouncer
PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose: hashed once per run
_counter = itertools.count(1)


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self):
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


def pytest_configure(config):
    # The apps' schema, built before any test: one app per test then costs no build, and
    # processes forked from this one (mutation testing runs one per mutant) inherit it.
    from api.app import hardened_schema

    hardened_schema(Settings())

    # Under `make mutation` only (stats, clean and mutant runs): statements are built on every
    # call, so the tests run a builder's mutants; a recorded equivalent is not run again (mutmut
    # counts exit code 34 as skipped); a mutant is judged by its module's suites, killers first.
    if os.environ.get("MUTANT_UNDER_TEST"):
        statements.BUILD_EACH_TIME = True
    if mutation_suites.mutant_under_test():
        if mutation_suites.recorded_equivalent():
            pytest.exit("a recorded equivalent mutant (tests/mutation_equivalents.toml)", returncode=34)
        config.args[:] = mutation_suites.plan(config.args)
        _mutant_session["functions"] = mutation_suites.functions(config.args)


# Set in a session mutmut runs for one mutant (a forked process, discarded after it).
_mutant_session: dict = {}


def pytest_pycollect_makeitem(collector, name, obj):
    functions = _mutant_session.get("functions")
    if functions is not None and isinstance(collector, pytest.Module) and (collector.path.name, name) not in functions:
        # Only the tests the mutant runs: pytest otherwise builds every test of a named file
        # (each parametrized, with its fixture closure) to pick those asked for.
        return []


def pytest_runtest_logreport(report):
    if report.failed and _mutant_session:
        # Killed: the session ends here, without teardown or summary (mutmut counts exit
        # code 1 as killed and discards the process).
        mutation_suites.record_kill(report.nodeid)
        os._exit(1)


async def pg_reachable() -> bool:
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.fixture(scope="session", autouse=True)
def files_dir_for_the_run(tmp_path_factory):
    """Attachments written by apps and demos built from the environment's settings (the
    demo attaches quotes) go to this run's temporary directory, not the working directory."""
    previous = os.environ.get("BATON_FILES_DIR")
    os.environ["BATON_FILES_DIR"] = str(tmp_path_factory.mktemp("files"))
    yield
    if previous is None:
        os.environ.pop("BATON_FILES_DIR", None)
    else:
        os.environ["BATON_FILES_DIR"] = previous


@pytest.fixture(scope="session")
async def pg_url():
    """A fresh PostgreSQL database for this test run (dropped afterwards)."""
    if not await pg_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}; CI needs it")
        pytest.skip("PostgreSQL is not reachable")
    name = f"baton_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    await upgrade(url, pgbouncer=PGBOUNCER)
    yield url
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def migrated_sqlite() -> Path:
    """A SQLite database at the migrations' head, made once per version of the migrations and
    kept in the temporary directory: sessions copy it instead of migrating (mutation testing
    starts a session per mutant, and migrating takes a second)."""
    sources = sorted(Path(__file__).parent.parent.joinpath("db", "migrations").rglob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    template = Path(tempfile.gettempdir()) / f"baton-test-sqlite-{digest}.db"
    if not template.exists():
        building = template.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        await upgrade(f"sqlite+aiosqlite:///{building}")
        conn = sqlite3.connect(building)
        conn.execute("PRAGMA journal_mode=DELETE")  # one file: the WAL folded in (apps set WAL again)
        conn.close()
        os.replace(building, template)  # whole or not at all, when two sessions race
    return template


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "baton.db"
    shutil.copyfile(await migrated_sqlite(), path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgres"], scope="session")
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def database_url(backend, request):
    return request.getfixturevalue("pg_url" if backend == "postgres" else "sqlite_url")


@pytest.fixture(scope="session")
async def db(database_url):
    database = Database(database_url, pgbouncer=PGBOUNCER)
    yield database
    await database.dispose()


@dataclass
class Org:
    """A fresh organization with one user per (department, role) and their tokens."""

    db: Database
    id: int
    users: dict = field(default_factory=dict)  # "sales_member" -> User
    tokens: dict = field(default_factory=dict)  # "sales_member" -> bearer token

    async def department_token(self, who: str, department_key: str) -> str:
        """A read-only API token of `who`'s, scoped to one department."""
        async with self.db.write() as session:
            department = await session.scalar(
                select(m.Department.id).where(m.Department.org_id == self.id, m.Department.key == department_key)
            )
            token, _ = await issue_token(
                session, self.users[who], kind="api", now=datetime.now(timezone.utc), name=f"{department_key} tool",
                scope="read", department_id=department,
            )
        return token

    def ctx(self, who: str, clock=None) -> Ctx:
        ctx = Ctx(db=self.db, viewer=Viewer(user=self.users[who]))
        if clock is not None:
            ctx.clock = clock
        return ctx


ROLE_SET = [("sales", "ADMIN"), ("sales", "MANAGER"), ("sales", "MEMBER"), ("sales", "VIEWER"),
            ("marketing", "MEMBER"), ("product", "MEMBER"), ("legal", "MEMBER"), ("legal", "MANAGER"),
            ("finance", "MEMBER")]


async def make_org(db: Database) -> Org:
    n = next(_counter)
    tag = uuid.uuid4().hex[:8]
    async with db.write() as session:
        org_row = await create_organization(session, f"Org {tag}")
        # The default pipeline's Proposal needs a quote file (resolvers/setup.py); the suites
        # that move cards test the other gates, tests/api/test_attachments.py this one.
        await session.execute(update(m.Stage).where(
            m.Stage.pipeline_id.in_(select(m.Pipeline.id).where(m.Pipeline.org_id == org_row.id))).values(required_files=[]))
        org = Org(db=db, id=org_row.id)
        for dept, role in ROLE_SET:
            key = f"{dept}_{role.lower()}"
            user = await create_user(
                session, org_row, email=f"{key}.{tag}.{n}@example.test", name=f"{dept.title()} {role.title()}",
                department_key=dept, role=role, handle=key,
            )
            if key == "sales_member":  # the user the sign-in tests use
                user.password_hash = PASSWORD_HASH
            org.users[key] = user
            org.tokens[key], _ = await issue_token(session, user, kind="session", now=datetime.now(timezone.utc), hours=24)
    return org


@pytest.fixture
async def org(db) -> Org:
    return await make_org(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(database_url, clock):
    """The real Starlette app (lifespan run) on the test database, memory broadcast."""
    application = create_app(Settings(database_url=database_url, broadcast_url="memory://"), migrate=False, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as c:
        yield c


class GQL:
    """POST GraphQL as a given user; returns the JSON body."""

    def __init__(self, client: httpx.AsyncClient, org: Org):
        self.client = client
        self.org = org

    async def __call__(self, query: str, variables: dict | None = None, *, as_: str | None = "sales_member", token=None) -> dict:
        headers = {}
        token = token or (self.org.tokens[as_] if as_ else None)
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def ok(self, query: str, variables: dict | None = None, **kw) -> dict:
        body = await self(query, variables, **kw)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def gql(client, org) -> GQL:
    return GQL(client, org)


def wait_for(predicate, timeout: float = 10.0):
    """Poll an async predicate until it is truthy (for live delivery across processes)."""

    async def run():
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await predicate()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.05)

    return run()


# --- Real servers on real sockets (tests/realtime) -------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A uvicorn server running the real app in this process, on a free port."""

    app: object
    settings: Settings
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def hub(self):
        return self.app.state.baton.hub


def start_server(settings: Settings, clock=None):
    """Async context manager: serve `settings` on a free port until the block ends."""
    import contextlib

    import uvicorn

    @contextlib.asynccontextmanager
    async def run():
        app = create_app(settings, migrate=False, clock=clock or (lambda: datetime.now(timezone.utc)))
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
            ws_per_message_deflate=False, timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        deadline = asyncio.get_running_loop().time() + 10
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited before it started")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("uvicorn did not start in 10 s")
            await asyncio.sleep(0.01)
        try:
            yield LiveServer(app=app, settings=settings, port=port)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)

    return run()


@pytest.fixture
async def live_server(database_url):
    """The app on a real port (memory broadcast) on the backend-parametrized database."""
    async with start_server(Settings(database_url=database_url, broadcast_url="memory://", catch_up_seconds=0.5)) as srv:
        yield srv
