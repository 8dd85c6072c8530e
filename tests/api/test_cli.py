"""The `baton` command line, run as a real subprocess on a fresh SQLite file."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def baton(tmp_path: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BATON_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "PYTHONPATH": str(ROOT)}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    first = baton(path, "demo")
    assert first.returncode == 0, first.stderr
    assert "Seeded the demo organization." in first.stdout
    return path


def test_demo_seeds_once(seeded):
    again = baton(seeded, "demo")
    assert again.returncode == 0 and "already present" in again.stdout


def test_user_create_and_errors(seeded):
    ok = baton(seeded, "user", "create", "--email", "Kim@Demo.Baton", "--name", "Kim", "--department", "legal", "--password", "pw-123456")
    assert ok.returncode == 0, ok.stderr
    assert "kim@demo.baton" in ok.stdout
    bad = baton(seeded, "user", "create", "--email", "x@demo.baton", "--name", "X", "--department", "hr", "--password", "pw")
    assert bad.returncode == 2 and "no department 'hr'" in bad.stderr


def test_token_create_prints_token_alone_on_last_line(seeded):
    result = baton(seeded, "token", "create", "--name", "finance-erp", "--scope", "read", "--department", "finance")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("bt_") and " " not in last
    assert "shown only once" in result.stderr
    # Without --user a department token acts as a member of that department, and says so.
    assert "acts as a member of finance (integration+finance." in result.stderr


def test_migrate_is_idempotent(tmp_path):
    for _ in range(2):
        result = baton(tmp_path, "migrate")
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout


def test_user_sign_out_revokes_the_users_sessions(seeded):
    import asyncio
    from datetime import datetime, timezone

    from sqlalchemy import select

    from db import models as m
    from db.engine import Database
    from resolvers.auth import issue_token

    async def sessions(issue: int = 0) -> list:
        db = Database(f"sqlite+aiosqlite:///{seeded / 'cli.db'}")
        try:
            async with db.write() as session:
                user = (await session.execute(select(m.User).where(m.User.email == "sales@demo.baton"))).scalar_one()
                for _ in range(issue):
                    await issue_token(session, user, kind="session", now=datetime.now(timezone.utc), hours=1)
                rows = await session.execute(select(m.ApiToken.revoked_at).where(m.ApiToken.user_id == user.id, m.ApiToken.kind == "session"))
                return list(rows.scalars())
        finally:
            await db.dispose()

    assert asyncio.run(sessions(issue=2)) == [None, None]
    result = baton(seeded, "user", "sign-out", "--email", "Sales@Demo.Baton")
    assert result.returncode == 0, result.stderr
    assert "Signed out sales@demo.baton: 2 session(s) revoked." in result.stdout
    assert None not in asyncio.run(sessions())
    unknown = baton(seeded, "user", "sign-out", "--email", "nobody@demo.baton")
    assert unknown.returncode != 0 and "no user nobody@demo.baton" in unknown.stderr
