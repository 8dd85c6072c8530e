"""What access rules cost the board: `python -m bench.visibility [--cards N] [--seconds S]`.

On a fresh PostgreSQL database, one organization with N cards spread over the stages
and departments; the real app in-process (ASGI, result cache on, as served). Boards
are read, in alternating rounds in this one process, by:
- `open`: a sales member with no rule (everyone ALL, today's default; one shared
  cached result);
- `ruled`: a marketing member under "MEMBER in marketing: DEPARTMENT scope, amount
  and account hidden" (a cached result of their own, built with the involvement
  predicate), after the rule is set;
- `ruled_uncached`: the same viewer with the cache off (the predicate on every read).
Prints requests/s per mode (median of the rounds) and the ratio to `open`, the
reference measured in the same run. (The statements a ruled board issues are asserted
by tests/api/test_access_rules.py, not measured here.)"""
import argparse
import asyncio
import statistics
import time
import uuid
from datetime import datetime, timezone

import httpx

from api.app import create_app
from api.settings import Settings
from bench.common import create_database, drop_database, sa_url
from db.migrate import upgrade
from resolvers.access_rules import set_access_rule
from resolvers.auth import issue_token
from resolvers.context import Ctx, Viewer
from resolvers.opportunities import create_opportunity
from resolvers.setup import DEFAULT_DEPARTMENTS, create_organization, create_user

BOARD = """{ board { columns { stage { key } totalCount totalAmount hiddenAmountCount
  opportunities(first: 25) { edges { node { id title amount currency account { name } owner { name } department { key } } } } } } }"""


async def seed(db, cards: int) -> dict:
    async with db.write() as s:
        org = await create_organization(s, f"bench {uuid.uuid4().hex[:6]}")
        users = {}
        for key, _ in DEFAULT_DEPARTMENTS:
            users[key] = await create_user(s, org, email=f"{key}@bench.test", name=key.title(), department_key=key, role="MEMBER")
        admin = await create_user(s, org, email="admin@bench.test", name="Admin", department_key="sales", role="ADMIN")
        now = datetime.now(timezone.utc)
        tokens = {k: (await issue_token(s, u, kind="session", now=now, hours=2))[0] for k, u in users.items()}
    owners = list(users.values())
    for i in range(cards):
        owner = owners[i % len(owners)]
        _, errors = await create_opportunity(Ctx(db=db, viewer=Viewer(user=owner)), {
            "title": f"Deal {i}", "account_name": f"Account {i % 40}", "amount": str(1000 + i), "currency": "CNY"})
        assert not errors, errors
    _, errors = await set_access_rule(Ctx(db=db, viewer=Viewer(user=admin)), {
        "role": "MEMBER", "department_key": "marketing", "scope": "DEPARTMENT", "hidden_fields": ["amount", "account"]})
    assert not errors, errors
    return tokens


async def rate(client, token: str, seconds: float) -> float:
    headers = {"authorization": f"Bearer {token}"}
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        r = await client.post("/graphql", json={"query": BOARD}, headers=headers)
        assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]
        done += 1
    return done / seconds


async def main(cards: int, seconds: float, rounds: int) -> None:
    name = f"baton_bench_visibility_{int(time.time())}"
    await create_database(name)
    try:
        url = sa_url(name)
        await upgrade(url)
        apps = {}
        for cache in (True, False):
            app = create_app(Settings(database_url=url, broadcast_url="memory://", result_cache_size=256 if cache else 0,
                                      rate_limit_enabled=False), migrate=False)
            apps[cache] = app
        async with apps[True].router.lifespan_context(apps[True]), apps[False].router.lifespan_context(apps[False]):
            tokens = await seed(apps[True].state.baton.db, cards)
            modes = {"open": (True, tokens["sales"]), "ruled": (True, tokens["marketing"]), "ruled_uncached": (False, tokens["marketing"])}
            clients = {c: httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://bench") for c, a in apps.items()}
            figures = {m: [] for m in modes}
            for _ in range(rounds):
                for mode, (cache, token) in modes.items():
                    figures[mode].append(await rate(clients[cache], token, seconds))
            for c in clients.values():
                await c.aclose()
        reference = statistics.median(figures["open"])
        print(f"cards={cards} rounds={rounds} seconds={seconds}")
        for mode, values in figures.items():
            median = statistics.median(values)
            print(f"{mode:16} {median:8.1f} req/s  ({median / reference:.2f}x open; rounds {', '.join(f'{v:.0f}' for v in values)})")
    finally:
        await drop_database(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.cards, args.seconds, args.rounds))
