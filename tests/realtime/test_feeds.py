"""A client that stops reading is disconnected (4429), on either protocol; the others keep up."""


import pytest

from api.live.codes import SLOW_READER
from api.settings import Settings
from resolvers.live import log_head
from tests.conftest import start_server, wait_for
from tests.realtime.wsclient import (
    LEGACY_WS,
    TRANSPORT_WS,
    burst,
    open_socket,
    stalled_socket,
)

SUBSCRIPTION = "subscription($after: Int) { boardEvents(after: $after) { seq changes } }"
@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_slow_consumer_is_closed_with_4429_and_fast_one_keeps_receiving(database_url, org, protocol):
    settings = Settings(database_url=database_url, broadcast_url="memory://", ws_connection_buffer_bytes=256 * 1024,
                        catch_up_seconds=0)
    async with start_server(settings) as server:
        start = await log_head(org.db, org.id)
        fast = await open_socket(server.ws, org.tokens["marketing_member"])
        await fast.subscribe(SUBSCRIPTION, {"after": start})
        slow = await stalled_socket(server.ws, org.tokens["legal_member"], protocol)
        await slow.subscribe(SUBSCRIPTION, {"after": start})

        async def listening(count):
            chan = server.hub.channels.get(org.id)
            return chan is not None and len(chan.feeds) == count

        await wait_for(lambda: listening(2))
        async with fast.collecting() as received:
            # Keep writing until the stalled subscriber is given up (bounded: ~8 MB of events).
            for _ in range(100):
                await burst(org, server.hub, 20)
                if await listening(1):
                    break
            assert await listening(1), "the stalled subscriber is given up, the other one stays"
            head = await log_head(org.db, org.id)
            await wait_for(lambda: _true(len(received) >= head - start), timeout=20)
            assert received == list(range(start + 1, head + 1))  # the fast one missed nothing
        # The stalled client, reading again, finds the server closed it as a slow reader.
        assert await slow.closed_code(timeout=15) == SLOW_READER.code
        assert slow.ws.close_reason == SLOW_READER.reason
        await fast.close()


async def _true(value: bool) -> bool:
    return value
