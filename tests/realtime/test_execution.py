"""Live delivery costs the same SQL however many subscribers listen: the Hub reads
each announced range of the log once per organization and process, nested fields
load through one loader cache per page, and identical subscriptions are executed
once per event (api/live/, resolvers/live.py)."""
import asyncio

from api.settings import Settings
from tests.conftest import start_server, wait_for
from tests.realtime.wsclient import BOARD_EVENTS, Http, open_socket
from tests.sqlcount import StatementCounter

# A second, different document: executed separately, but its nested `opportunity`
# loads through the same per-page loaders as BOARD_EVENTS'.
WITH_ACTOR = "subscription { boardEvents { seq actor { handle } opportunity { title account { name } } } }"


async def _deliver(http, sockets, title: str) -> None:
    created = await http.create(title)
    for sock, _query in sockets:
        (data,) = await sock.take(1)
        assert data["boardEvents"]["opportunity"]["title"] == created["title"]


async def _open(server, org, count: int, tokens: list[str]) -> list:
    sockets = []
    for i in range(count):
        sock = await open_socket(server.ws, org.tokens[tokens[i % len(tokens)]])
        query = BOARD_EVENTS if i % 2 == 0 else WITH_ACTOR
        await sock.subscribe(query)
        sockets.append((sock, query))
    return sockets


async def test_sql_per_event_does_not_grow_with_subscribers(database_url, org):
    # No periodic catch-up: its head check would add statements at random moments.
    settings = Settings(database_url=database_url, broadcast_url="memory://", catch_up_seconds=0)
    async with start_server(settings) as server:
        http = Http(server.http, org)
        engine = server.app.state.baton.db.engine
        tokens = ["sales_member", "marketing_member", "legal_member", "product_member", "finance_member"]

        async def listening(n):
            async def ready():
                chan = server.hub.channels.get(org.id)
                return chan is not None and chan.ready.is_set() and len(chan.feeds) >= n

            await wait_for(ready)

        counts = {}
        sockets: list = []
        for total in (2, 12):
            sockets += await _open(server, org, total - len(sockets), tokens)
            await listening(total)
            # Everyone has finished subscribing once a first event reached them all.
            await _deliver(http, sockets, f"Warm-up for {total}")
            with StatementCounter(engine) as counter:
                await _deliver(http, sockets, f"Counted with {total}")
                await asyncio.sleep(0.2)  # nothing else is still running
            counts[total] = counter.count
        assert counts[12] == counts[2], f"statements per event: {counts}"
        # The event's SQL (besides the mutation's own): one shared log read, plus one
        # load per nested type (opportunity, account, user) for all subscribers.
        for sock, _query in sockets:
            await sock.close()
        await http.aclose()
