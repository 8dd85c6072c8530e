"""What an idle live subscription keeps for as long as it waits (docs/performance.md,
"Memory per subscription"), counted in objects and tasks, not bytes: a socket with
one caught-up graphql-transport-ws subscription holds one task of its own (the
operation's), no extension hook with nothing left to run, a compact executor, and
leaves no class to the garbage collector."""
import asyncio
import collections
import contextlib
import gc
import sys

from api.live.execution import SharedEventExecutor, _GeneratorHook
from api.live.transport import SharedResultsTransportWS
from tests.conftest import wait_for
from tests.realtime.wsclient import Http, open_socket

PLAIN = "subscription { boardEvents { seq type } }"
COUNT = 4


async def _open_parked(server, org, count: int, parked_before: int = 0) -> list:
    sockets = []
    for _ in range(count):
        sock = await open_socket(server.ws, org.tokens["sales_member"])
        await sock.subscribe(PLAIN)
        sockets.append(sock)

    async def parked():
        chan = server.hub.channels.get(org.id)
        return chan is not None and chan.ready.is_set() and sum(f.parked for f in chan.feeds) >= parked_before + count

    await wait_for(parked)
    return sockets


def _garbage_classes() -> list:
    """Classes that only the cyclic garbage collector would free, now."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, type)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def _server_tasks(tasks) -> list[str]:
    """The tasks among `tasks` run by the server for its sockets and operations (not
    the test's websocket client, uvicorn's own per-connection task or the hub's)."""
    names = []
    for task in tasks:
        coro = task.get_coro()
        path = getattr(getattr(coro, "cr_code", None), "co_filename", "")
        if "/websockets/" in path or "/uvicorn/" in path or task.get_name().startswith("hub"):
            continue
        names.append(getattr(coro, "__qualname__", repr(coro)))
    return names


async def test_idle_subscriptions_keep_one_task_and_only_live_hooks(live_server, org):
    # One subscription first: what the first one sets up for everyone (the channel,
    # caches, pools) is not counted.
    sockets = await _open_parked(live_server, org, 1)
    await asyncio.sleep(0.1)
    gc.collect()
    tasks_before = asyncio.all_tasks()
    hooks_before = sum(type(o) is _GeneratorHook for o in gc.get_objects())
    managers_before = sum(type(o) is contextlib._GeneratorContextManager for o in gc.get_objects())
    gc.disable()  # what the collector would free is looked at below, not freed in between
    http = Http(live_server.http, org)
    try:
        sockets += await _open_parked(live_server, org, COUNT, parked_before=1)
        # One event reaches everyone (by the direct path: each tap computes its
        # subscription's shared execution key), and all wait caught up again.
        await http.create("Marker")
        for sock in sockets:
            assert len(await sock.seqs(1)) == 1
        await asyncio.sleep(0.1)

        # A class made per subscription (once: a visitor class in data_variables) is a
        # cycle left for the collector, which Baton runs rarely (api/cli.py). (A library
        # may make one once, lazily: SQLAlchemy does.)
        per_class = collections.Counter(cls.__qualname__ for cls in _garbage_classes())
        assert not [name for name, n in per_class.items() if n >= COUNT], per_class

        # One task per idle subscription: its operation's. The socket's writer and the
        # sign-in timeout have none while nothing waits to be written.
        new = _server_tasks(asyncio.all_tasks() - tasks_before)
        assert sorted(new) == ["BaseGraphQLTransportWSHandler.run_operation"] * COUNT, new

        # Extension hooks kept for the subscription's life: only those with work left
        # after their yield (MaskErrors' and SchemaDisclosure's on_operation), none of
        # Strawberry's per-hook context managers.
        objects = gc.get_objects()
        kept = [o.gen.gi_code.co_qualname for o in objects if type(o) is _GeneratorHook]
        assert len(kept) - hooks_before == 2 * COUNT, sorted(set(kept))
        assert not any(name.endswith(("on_execute", "MaxTokensLimiter.on_operation",
                                      "AddValidationRules.on_operation")) for name in kept), sorted(set(kept))
        assert sum(type(o) is contextlib._GeneratorContextManager for o in objects) == managers_before

        # Each subscription's executor keeps its attributes in a dict made at once.
        handlers = [o for o in objects if type(o) is SharedResultsTransportWS and o._taps]
        executors = [tap.executor for h in handlers for tap in h._taps.values()]
        assert len(executors) == COUNT + 1 and all(type(e) is SharedEventExecutor for e in executors)
        for executor in executors:
            assert sys.getsizeof(vars(executor)) <= sys.getsizeof(dict(vars(executor)))
    finally:
        gc.enable()
        await http.aclose()
        for sock in sockets:
            await sock.ws.close()
