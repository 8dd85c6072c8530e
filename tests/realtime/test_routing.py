"""Org-affine routing (docs/operations.md, "Routing organizations to processes"): HAProxy
(Debian's package, from examples/haproxy.cfg) hashes the `org` query parameter onto three `baton serve` processes
with consistent hashing and bounded load. An organization's HTTP and websocket traffic
lands on one process; when that process goes away only its organizations move, and a
subscriber resuming through the proxy loses no event."""
import asyncio

import httpx
import pytest

from db.engine import Database
from resolvers.live import log_head
from tests.conftest import make_org, wait_for
from tests.faults.live import Subscriber, assert_exactly_once_in_order, fresh_database, logged_seqs
from tests.processes import Process, broadcast_url
from tests.proxies import HAProxy, need
from tests.realtime.wsclient import CREATE, Http

pytestmark = pytest.mark.multiprocess


async def served_by(client: httpx.AsyncClient, org, as_: str = "sales_member") -> str:
    response = await client.post(
        f"/graphql?org={org.key}", json={"query": "{ viewer { handle } }"},
        headers={"authorization": f"Bearer {org.tokens[as_]}"},
    )
    assert response.status_code == 200, response.text
    return response.headers["x-served-by"]


async def create_via(client: httpx.AsyncClient, org, title: str) -> None:
    """A createOpportunity through the proxy, retried while it notices a process went away."""
    for _ in range(50):
        try:
            response = await client.post(
                f"/graphql?org={org.key}", json={"query": CREATE, "variables": {"input": {"title": title, "accountName": "星辰"}}},
                headers={"authorization": f"Bearer {org.tokens['sales_member']}"},
            )
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            assert response.json()["data"]["createOpportunity"]["userErrors"] == []
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"create {title!r} never succeeded through the proxy")


async def test_organizations_stick_to_processes_and_move_only_when_theirs_goes(tmp_path):
    need("haproxy")
    async with fresh_database() as url:
        env = {"BATON_DATABASE_URL": url, "BATON_BROADCAST_URL": await broadcast_url("redis", url)}
        processes = [Process(env, tmp_path, f"p{i}") for i in range(3)]
        db = Database(url)
        proxy = None
        try:
            await asyncio.gather(*(p.start() for p in processes))
            await asyncio.gather(*(p.ready() for p in processes))
            proxy = HAProxy(tmp_path, [p.port for p in processes])
            orgs = [await make_org(db) for _ in range(12)]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=10) as client:
                await wait_for(lambda: _answers(client, orgs[0], proxy), timeout=15)
                for org in orgs:  # the key clients learn after sign-in (spread round robin: no key yet)
                    body = (await client.post("/graphql", json={"query": "{ routingKey }"},
                                              headers={"authorization": f"Bearer {org.tokens['sales_member']}"})).json()
                    org.key = body["data"]["routingKey"]
                assert len({org.key for org in orgs}) == len(orgs)

                # Affinity: every request of an organization lands on the same process.
                home = {}
                for org in orgs:
                    seen = {await served_by(client, org, who) for who in ("sales_member", "legal_member", "finance_member") for _ in range(2)}
                    assert len(seen) == 1, f"org {org.id} was served by {seen}"
                    home[org.id] = seen.pop()
                assert len(set(home.values())) >= 2, f"twelve organizations all hashed to {set(home.values())}"

                # A subscriber of the organization whose process will go away, through the proxy.
                moving = orgs[0]
                gone = home[moving.id]  # "baton<n>", n counting from 1
                start = await log_head(db, moving.id)
                ws_url = f"ws://127.0.0.1:{proxy.port}/graphql?org={moving.key}"
                first = await Subscriber.open(ws_url, moving.tokens["marketing_member"], start)
                for i in range(3):
                    await create_via(client, moving, f"迁移前 {i}")
                await first.reached(start + 3, timeout=10)

                await processes[int(gone.removeprefix("baton")) - 1].stop()
                for i in range(3):  # committed while the proxy notices; the first subscriber's socket is gone
                    await create_via(client, moving, f"迁移后 {i}")
                await asyncio.wait_for(first.closed.wait(), 10)
                second = await Subscriber.open(ws_url, moving.tokens["marketing_member"], first.last)
                await second.reached(start + 6, timeout=15)
                received = first.seqs + second.seqs

                # Only the organizations of the process that went away moved.
                for org in orgs:
                    now = await served_by(client, org)
                    if home[org.id] == gone:
                        assert now != gone
                    else:
                        assert now == home[org.id], f"org {org.id} moved from {home[org.id]} to {now} though its process stayed"
                await first.close()
                await second.close()

            http = Http(f"http://127.0.0.1:{next(p for p in processes if p.proc.returncode is None).port}", moving)
            assert_exactly_once_in_order(received, await logged_seqs(http, start))
            await http.aclose()
        finally:
            if proxy is not None:
                proxy.stop()
            await asyncio.gather(*(p.stop() for p in processes))
            await db.dispose()


async def _answers(client: httpx.AsyncClient, org, proxy: HAProxy) -> bool:
    proxy.check_running()
    try:
        return (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200
    except httpx.TransportError:
        return False
