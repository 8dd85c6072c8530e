"""A socket that never reads holds at most its byte budget (BATON_WS_CONNECTION_BUFFER_BYTES)
and a fixed overhead, however many heavy replays it asks for: it is closed with 4429
(SLOW_READER) once more would wait for it, a healthy subscriber on the same server
misses nothing, and nothing of it stays in the process once it is gone.

The server runs in this process, so its objects are inspected directly; the
writer is wrapped to record the most it ever held and how replay pages started."""
import contextlib
import gc
import weakref

import pytest

from api.live import socket as live_socket
from api.live import transport
from api.live.codes import SLOW_READER
from api.live.execution import ResultBatch
from api.live.socket import SocketWriter, size
from api.settings import Settings
from resolvers.live import ReplayBatch, log_head
from resolvers.uow import run_in_transaction
from tests.conftest import start_server, wait_for
from tests.realtime.wsclient import BLOB, open_socket, stalled_socket

# Nested lists with arguments: not a plain selection, so each replayed event is executed
# (and its nested fields loaded) as it is sent.
HEAVY = """subscription($after: Int) { boardEvents(after: $after) { seq type changes
  opportunity { id title comments(first: 20) { edges { node { body } } } history(first: 20) { edges { node { seq changes } } } } } }"""
BUDGET = 64 * 1024
SUBSCRIPTIONS = 20  # BATON_MAX_SUBSCRIPTIONS_PER_CONNECTION's default
HISTORY = 200  # events of ~4 KB each replayed by every subscription: 16 MB asked for in all


class Watched(SocketWriter):
    """SocketWriter, recording (in `stats`) the most bytes it held, the largest message it
    was handed, and, per replay page, what was still queued and how many pages were open."""

    __slots__ = ("__weakref__",)
    stats: dict = {}
    made: weakref.WeakSet = weakref.WeakSet()

    def __init__(self, *args):
        super().__init__(*args)
        self.made.add(self)

    def _mine(self) -> dict:
        return self.stats.setdefault(id(self), {"peak": 0, "largest": 0, "turns": [], "open": 0, "most_open": 0})

    @property
    def queued(self):
        return SocketWriter.queued.__get__(self, SocketWriter)

    @queued.setter
    def queued(self, value):
        SocketWriter.queued.__set__(self, value)
        mine = self._mine()
        mine["peak"] = max(mine["peak"], value)

    def _saw(self, texts) -> None:
        mine = self._mine()
        mine["largest"] = max([mine["largest"], *map(size, texts)])

    def post(self, texts):
        self._saw(texts)
        super().post(texts)

    def send_many(self, texts):
        self._saw(texts)
        return super().send_many(texts)

    @contextlib.asynccontextmanager
    async def turn(self):
        async with super().turn():
            mine = self._mine()
            mine["turns"].append(self.queued)
            mine["open"] += 1
            mine["most_open"] = max(mine["most_open"], mine["open"])
            try:
                yield
            finally:
                mine["open"] -= 1


async def append_events(org, count: int, publish=None) -> None:
    """`count` events of ~4 KB in one transaction (announced through `publish` if given)."""
    ctx = org.ctx("sales_admin")
    if publish is not None:
        ctx.publish = publish

    async def work(uow):
        for _ in range(count):
            await uow.append_event("ALERT_RAISED", department_keys=["sales"], changes={"note": BLOB}, actor_id=None)

    await run_in_transaction(ctx, work)


def _handlers() -> list:
    """The live websocket handlers of the server, through their writers (weakly kept by the test)."""
    return [w._on_overflow.__self__ for w in list(Watched.made) if hasattr(w._on_overflow, "__self__")]


async def _stalled_handler(user_id: int):
    async def found():
        for handler in _handlers():
            viewer = getattr(handler.context, "viewer", None)
            if viewer is not None and viewer.id == user_id:
                return handler
        return None

    return await wait_for(found)


def _leftovers(refs: dict) -> list[str]:
    gc.collect()
    alive = [name for name, ref in refs.items() if ref() is not None]
    batches = [type(o).__name__ for o in gc.get_objects() if type(o) in (ReplayBatch, ResultBatch)]
    return alive + batches


@pytest.fixture
def watched(monkeypatch):
    Watched.stats, Watched.made = {}, weakref.WeakSet()
    monkeypatch.setattr(transport, "SocketWriter", Watched)
    return Watched.stats


async def _stall(server, org):
    """A socket that signs in, asks for SUBSCRIPTIONS heavy replays and never reads; the
    server-side objects it made, weakly."""
    start = await log_head(org.db, org.id)
    await append_events(org, HISTORY)
    stalled = await stalled_socket(server.ws, org.tokens["legal_member"])
    handler = await _stalled_handler(org.users["legal_member"].id)
    for _ in range(SUBSCRIPTIONS):
        await stalled.subscribe(HEAVY, {"after": start})
    await wait_for(lambda: _true(len(handler.operations) == SUBSCRIPTIONS or handler.writer.closed))
    refs = {"handler": weakref.ref(handler), "writer": weakref.ref(handler.writer), "context": weakref.ref(handler.context)}
    refs.update({f"operation {op_id}": weakref.ref(op.task) for op_id, op in handler.operations.items()})
    return stalled, handler, refs


async def test_stalled_reader_is_closed_at_its_budget_and_leaves_nothing_behind(database_url, org, watched):
    settings = Settings(database_url=database_url, broadcast_url="memory://", ws_connection_buffer_bytes=BUDGET,
                        catch_up_seconds=0)
    async with start_server(settings) as server:
        state = server.app.state.baton
        healthy = await open_socket(server.ws, org.tokens["marketing_member"])
        await healthy.subscribe(HEAVY)  # live only
        await wait_for(lambda: _true(server.hub.channels.get(org.id) is not None))
        first = await log_head(org.db, org.id) + 1
        stalled, handler, refs = await _stall(server, org)
        writer = handler.writer
        # Live events keep coming while it stalls; the healthy subscriber takes each.
        async with healthy.collecting() as received:
            for _ in range(20):
                await append_events(org, 5, server.hub.publish)
                if writer.closed:
                    break
            await wait_for(lambda: _true(writer.closed), timeout=30)
            head = await log_head(org.db, org.id)
            await wait_for(lambda: _true(len(received) >= head - first + 1), timeout=20)
            assert received == list(range(first, head + 1)), "the healthy subscriber missed or repeated events"

        stats = watched[id(writer)]
        # Never more than the budget and one message waited for it ...
        assert stats["peak"] <= BUDGET + stats["largest"], stats
        assert writer.queued == 0
        # ... and each replay page was read once the socket had taken everything before
        # it, one page at a time for its twenty subscriptions.
        assert stats["turns"] and set(stats["turns"]) == {0} and stats["most_open"] == 1, stats
        # The client, reading at last, finds why it was closed.
        assert await stalled.closed_code(timeout=15) == SLOW_READER.code
        assert stalled.ws.close_reason == SLOW_READER.reason
        del handler, writer

        # Gone: no task, page, buffer or count of it is kept.
        await wait_for(lambda: _true(not _leftovers(refs)), timeout=30)
        assert state.limiter.ws.total == 1 and dict(state.limiter.ws.open) == {org.users["marketing_member"].id: 1}
        assert not state.limiter.ws.unauthenticated
        assert len(server.hub.channels[org.id].feeds) == 1
        await healthy.close()


async def test_a_reader_that_never_reads_again_is_dropped_after_the_close(database_url, org, watched, monkeypatch):
    """Its close frame never gets through: the connection is aborted ABORT_AFTER later and
    the server lets go of it all while the client still holds its end open."""
    monkeypatch.setattr(live_socket, "ABORT_AFTER", 0.2, raising=False)
    settings = Settings(database_url=database_url, broadcast_url="memory://", ws_connection_buffer_bytes=BUDGET,
                        catch_up_seconds=0)
    async with start_server(settings) as server:
        state = server.app.state.baton
        stalled, handler, refs = await _stall(server, org)
        writer = handler.writer
        await wait_for(lambda: _true(writer.closed), timeout=30)
        assert watched[id(writer)]["peak"] <= BUDGET + watched[id(writer)]["largest"]
        del handler, writer
        await wait_for(lambda: _true(not _leftovers(refs)), timeout=30)
        assert state.limiter.ws.total == 0 and not state.limiter.ws.open
        assert org.id not in server.hub.channels
        await stalled.close()


async def _true(value) -> bool:
    return bool(value)
