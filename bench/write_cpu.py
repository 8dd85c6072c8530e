"""CPU per mutation, in-process: `python -m bench.write_cpu [db_name] [-n N] [--rounds R] [--profile]`.

Runs the app on an existing bench database (default: the newest `baton_bench_data_*`
one, made by `python -m bench data --quick --keep-db`), signs in as an admin with a token
issued for this run (deleted at the end), and posts the write benchmark's
`updateOpportunity` (bench.board.UPDATE: a new next step) through the ASGI app N times per
round, on cards of its own, one after another. Prints process CPU time per mutation
(median, min and max over the rounds) and the SQL statements one mutation issues; with no
subscriber the figure is the mutation's own cost, without fan-out. `--profile` prints a
cProfile of every round (the profile's own overhead roughly doubles the times)."""
import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import time

import httpx
from sqlalchemy import event

from bench.board import UPDATE, gid
from bench.board_cpu import newest_bench_db
from bench.common import sa_url


async def main(db_name: str | None, n: int, rounds: int, profile: bool) -> None:
    from datetime import datetime, timezone

    from sqlalchemy import delete, select

    from api.app import create_app
    from api.cli import settle_garbage_collector
    from api.settings import Settings
    from db import models as m
    from resolvers.auth import issue_token

    db_name = db_name or await newest_bench_db()
    app = create_app(Settings(database_url=sa_url(db_name), broadcast_url="memory://", rate_limit_enabled=False), migrate=False)
    settle_garbage_collector()  # as `baton serve` does after building the app
    db = app.state.baton.db
    async with db.write() as session:
        admin = (await session.execute(select(m.User).where(m.User.role == "ADMIN").order_by(m.User.id).limit(1))).scalar_one()
        token, row = await issue_token(session, admin, kind="session", now=datetime.now(timezone.utc), hours=1, name="write_cpu")
        cards = list((await session.execute(
            select(m.Opportunity.id, m.Opportunity.version).where(m.Opportunity.org_id == admin.org_id)
            .order_by(m.Opportunity.id.desc()).limit(20))).all())
    versions = dict(cards)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    statements, counting = [0], [False]

    def count(*_):
        statements[0] += counting[0]

    # Listen before any connection exists: connections opened earlier would not hear it.
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)

    results, per_mutation = [], []
    profiler = cProfile.Profile() if profile else None
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            done, run = [0], time.time_ns()

            async def mutate() -> None:
                opp = cards[done[0] % len(cards)][0]
                done[0] += 1
                body = {"query": UPDATE, "variables": {"input": {
                    "id": gid("Opportunity", opp), "version": versions[opp], "nextStep": f"Call back #{run}-{done[0]}"}}}
                r = await client.post("/graphql", content=json.dumps(body), headers=headers)
                payload = r.json()
                result = (payload.get("data") or {}).get("updateOpportunity")
                if r.status_code != 200 or not result or result["userErrors"]:
                    raise SystemExit(f"mutation failed: {r.status_code} {r.text[:300]}")
                versions[opp] = result["opportunity"]["version"]

            for _ in range(5):  # warm up
                await mutate()
            counting[0] = True
            await mutate()
            counting[0] = False
            per_mutation.append(statements[0])
            for _ in range(rounds):
                if profiler is not None:
                    profiler.enable()
                t0 = time.process_time()
                for _ in range(n):
                    await mutate()
                results.append((time.process_time() - t0) * 1000 / n)
                if profiler is not None:
                    profiler.disable()
    finally:
        async with db.write() as session:
            await session.execute(delete(m.ApiToken).where(m.ApiToken.id == row.id))
        await db.dispose()
    print(f"database {db_name}: {rounds} rounds x {n} updateOpportunity, {per_mutation[0]} SQL statements per mutation")
    print(f"CPU per mutation: {statistics.median(results):6.2f} ms (median of rounds; min {min(results):.2f}, max {max(results):.2f})")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db_name", nargs="?")
    parser.add_argument("-n", type=int, default=50, help="mutations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.db_name, args.n, args.rounds, args.profile))
