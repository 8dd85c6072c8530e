"""CPU per uncached board, in-process: `python -m bench.board_cpu [db_name] [-n N] [--rounds R]`.

Runs the app (result cache off) on an existing bench database (default: the newest
`baton_bench_data_*` one, made by `python -m bench data --quick --keep-db`), signs
in as a sales member with a token issued for this run (deleted at the end), and
posts bench.board.BOARD through the ASGI app N times per round, alternating rounds
with plain completion (schema/plain.py) on and off. Prints process CPU time per
board for each mode: median, min and max over the rounds (on a busy machine the
min is the least disturbed figure). Client and server share the process, so the
ASGI client's share (a few ms; it does not decode the responses) is included. The
garbage collector is set up as `baton serve` sets it (`--default-gc` keeps Python's
defaults); `--profile` also prints a cProfile of the plain-on rounds."""
import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import time

import asyncpg
import httpx

from bench.board import BOARD, baton_cards
from bench.common import PG_ADMIN, check, sa_url


async def newest_bench_db() -> str:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        names = [r[0] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'baton_bench_data_%'")]
    finally:
        await conn.close()
    if not names:
        raise SystemExit("no baton_bench_data_* database: run `python -m bench data --quick --keep-db` first")
    return max(names, key=lambda n: int(n.rsplit("_", 1)[1]) if n.rsplit("_", 1)[1].isdigit() else 0)


def set_plain(on: bool) -> None:
    from schema import plain

    plain.PlainCompletionExecutor.plain_completion = on


async def main(db_name: str | None, n: int, rounds: int, profile: bool, profile_out: str | None = None,
               settle_gc: bool = True) -> None:
    from datetime import datetime, timezone

    from sqlalchemy import delete, select

    from api.app import create_app
    from api.settings import Settings
    from db import models as m
    from resolvers.auth import issue_token

    db_name = db_name or await newest_bench_db()
    app = create_app(Settings(database_url=sa_url(db_name), broadcast_url="memory://", result_cache_size=0,
                              rate_limit_enabled=False), migrate=False)
    if settle_gc:
        from api.cli import settle_garbage_collector

        settle_garbage_collector()  # as `baton serve` does after building the app
    db = app.state.baton.db
    async with db.write() as session:
        user = (await session.execute(
            select(m.User).join(m.Department, m.Department.id == m.User.department_id)
            .where(m.User.role == "MEMBER", m.Department.key == "sales").order_by(m.User.id).limit(1)
        )).scalar_one()
        token, row = await issue_token(session, user, kind="session", now=datetime.now(timezone.utc), hours=1, name="board_cpu")
    headers = {"authorization": f"Bearer {token}"}
    results = {True: [], False: []}
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:

            body = json.dumps({"query": BOARD}).encode()
            headers["content-type"] = "application/json"

            async def board() -> bytes:
                r = await client.post("/graphql", content=body, headers=headers)
                if r.status_code != 200 or b'"errors"' in r.content:
                    raise SystemExit(f"board failed: {r.status_code} {r.text[:300]}")
                return r.content

            answers = {}
            for on in (True, False):  # warm both paths, and check they agree
                set_plain(on)
                for _ in range(3):
                    answers[on] = await board()
            assert answers[True] == answers[False], "plain completion changed the board"
            cards = baton_cards(check(json.loads(answers[True])))
            profiler = cProfile.Profile() if profile else None
            for _ in range(rounds):
                for on in (True, False):
                    set_plain(on)
                    if profiler is not None and on:
                        profiler.enable()
                    t0 = time.process_time()
                    for _ in range(n):
                        await board()
                    results[on].append((time.process_time() - t0) * 1000 / n)
                    if profiler is not None and on:
                        profiler.disable()
    finally:
        set_plain(True)
        async with db.write() as session:
            await session.execute(delete(m.ApiToken).where(m.ApiToken.id == row.id))
        await db.dispose()
    print(f"database {db_name}: {cards} cards per board, {rounds} rounds x {n} boards per mode (result cache off)")
    for on in (True, False):
        ms = results[on]
        print(f"plain completion {'on ' if on else 'off'}: {statistics.median(ms):6.1f} ms CPU per board "
              f"(median of rounds; min {min(ms):.1f}, max {max(ms):.1f})")
    if profiler is not None:
        stats = pstats.Stats(profiler)
        if profile_out:
            stats.dump_stats(profile_out)
        stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db_name", nargs="?")
    parser.add_argument("-n", type=int, default=20, help="boards per round and mode")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-out", help="also write the cProfile stats to this file")
    parser.add_argument("--default-gc", action="store_true", help="keep Python's default collector settings")
    args = parser.parse_args()
    asyncio.run(main(args.db_name, args.n, args.rounds, args.profile or bool(args.profile_out), args.profile_out,
                     settle_gc=not args.default_gc))
