"""Apply alembic migrations programmatically (`baton migrate`, `baton serve`, tests)."""
import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from db.engine import normalize_url, pgbouncer_connect_args

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str, *, pgbouncer: bool = False) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url = normalize_url(url)
    cfg.attributes["connect_args"] = pgbouncer_connect_args() if pgbouncer and not url.startswith("sqlite") else {}
    return cfg


def upgrade_sync(url: str, revision: str = "head", *, pgbouncer: bool = False) -> None:
    command.upgrade(alembic_config(url, pgbouncer=pgbouncer), revision)


async def upgrade(url: str, revision: str = "head", *, pgbouncer: bool = False) -> None:
    # alembic's env.py runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(upgrade_sync, url, revision, pgbouncer=pgbouncer)
