"""Engine and sessions: one `Database` per process."""
import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine


def normalize_url(url: str) -> str:
    """Accept the plain URLs people paste and pick the async drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://"):]
    return url


def pgbouncer_connect_args() -> dict:
    """PgBouncer in transaction mode gives each transaction whichever server connection is
    free, where a prepared statement named by an earlier transaction is missing (or another
    client's has the same name). So asyncpg's and SQLAlchemy's statement caches are off and
    every statement gets a unique name, as SQLAlchemy's asyncpg dialect documents."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",
    }


class Database:
    def __init__(
        self, url: str, *, pool_size: int = 20, max_overflow: int = 10, pgbouncer: bool = False, **engine_kw
    ):
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.pgbouncer = pgbouncer and not self.is_sqlite
        if not self.is_sqlite:  # SQLite keeps its own pool
            engine_kw.update(pool_size=pool_size, max_overflow=max_overflow)
        if self.pgbouncer:
            engine_kw["connect_args"] = {**engine_kw.get("connect_args", {}), **pgbouncer_connect_args()}
        # Statement logs (and error messages) without their values: they carry user data and secrets.
        self.engine = create_async_engine(self.url, hide_parameters=True, **engine_kw)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite allows one writer: writers of this process queue here instead of
        # failing with "database is locked"; busy_timeout covers other processes.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "checkout", _skip_closed)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[AsyncSession]:
        """A session for ONE read statement. On PostgreSQL its connection runs in
        autocommit, so the statement is its own transaction and costs one round trip
        instead of three (no BEGIN, no ROLLBACK); elsewhere it is read(). Behind PgBouncer
        too: outside a transaction it may prepare on one server connection and execute on another."""
        if self.is_sqlite or self.pgbouncer:
            async with self.sessionmaker() as session:
                yield session
            return
        async with self.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with self.sessionmaker(bind=connection) as session:
                yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits when the block ends, rolls back on any exception."""
        if self._write_lock is None:
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        async with self._write_lock:
            async with self.sessionmaker() as session, session.begin():
                yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _skip_closed(dbapi_connection, _record, _proxy) -> None:
    """A pooled connection the server closed (restart, failover, terminate) is
    replaced at checkout. asyncpg notices the close as it happens, so this costs no
    round trip, unlike pool_pre_ping's query per checkout."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("connection closed by the server")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
