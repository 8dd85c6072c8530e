"""Live pages written straight to graphql-transport-ws sockets by the channel's pump
(api/live/: BoundedFeed.park, LiveTap, SocketWriter), bypassing each subscription's
task: exactly once and in order across the replay->live seam, filters and department
scope as on the subscriber's own path, and a socket that stops reading never holds
up the others. Every test checks the channel's `direct_deliveries` counter, so it
fails if the direct path silently never runs."""

import pytest
from graphql import parse

from api.live import hub
from api.live.codes import SLOW_READER
from api.live.selection import data_variables
from api.settings import Settings
from resolvers.live import log_head
from tests.conftest import start_server, wait_for
from tests.realtime.wsclient import (
    BOARD_EVENTS,
    LEGACY_WS,
    Http,
    burst,
    open_socket,
    stalled_socket,
    subscribe_while_writing,
)

PLAIN = "subscription($after: Int) { boardEvents(after: $after) { seq type departmentKeys } }"
BIG = "subscription($after: Int) { boardEvents(after: $after) { seq changes } }"
CREATE_TASK = """
mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } userErrors { code message } } }"""


def _channel(server, org_id):
    return server.hub.channels.get(org_id)


async def _parked(server, org_id: int, count: int) -> None:
    """Wait until `count` subscriptions wait caught up on the channel (the direct path's condition)."""

    async def ready():
        chan = _channel(server, org_id)
        return chan is not None and chan.ready.is_set() and sum(f.parked for f in chan.feeds) >= count

    await wait_for(ready)


@pytest.mark.parametrize("query", [PLAIN, BOARD_EVENTS], ids=["plain", "nested"])
async def test_replay_to_live_seam_is_exact_on_the_direct_path(live_server, org, query):
    """Subscribers join at staggered moments while mutations commit; each gets every
    event after its `after` once, in order, and live pages reach them by the pump."""
    http = Http(live_server.http, org)
    end, sockets = await subscribe_while_writing(live_server, org, http, query, (0, 3, 7))
    for after, sock in sockets:
        assert await sock.seqs(end - after) == list(range(after + 1, end + 1))
    # Everyone is caught up and waiting: the next event goes out by the direct path
    # only, once to each subscriber.
    await _parked(live_server, org.id, len(sockets))
    chan = _channel(live_server, org.id)
    before, pages = chan.direct_deliveries, chan.pages
    await http.create("Marker")
    for _after, sock in sockets:
        assert await sock.seqs(1) == [end + 1]
    assert chan.pages > pages
    assert chan.direct_deliveries - before == (chan.pages - pages) * len(sockets)
    for _after, sock in sockets:
        await sock.nothing_within(0.3)
        await sock.close()
    await http.aclose()


async def test_direct_path_keeps_filters_and_department_scope(live_server, org):
    scoped_token = await org.department_token("marketing_member", "marketing")
    http = Http(live_server.http, org)
    sales_opp = await http.create("Sales deal")
    # Same document (so one shared execution per event), different filters and scopes.
    cases = [
        (org.tokens["finance_member"], {"types": ["TASK_CREATED"]}),
        (org.tokens["finance_member"], {"departmentKeys": ["marketing"]}),
        (org.tokens["finance_member"], {"departmentKeys": ["legal", "marketing"]}),
        (org.tokens["finance_member"], {"opportunityId": sales_opp["id"]}),
        (org.tokens["finance_member"], {}),
        (scoped_token, {}),
        (scoped_token, {"departmentKeys": ["sales", "marketing"]}),
    ]
    sockets = []
    for token, variables in cases:
        sock = await open_socket(live_server.ws, token)
        await sock.subscribe(BOARD_EVENTS, variables)  # live: no `after`
        sockets.append(sock)
    await _parked(live_server, org.id, len(cases))
    chan = _channel(live_server, org.id)
    before, pages = chan.direct_deliveries, chan.pages

    start = await log_head(org.db, org.id)
    await http.create("Marketing deal", as_="marketing_member")  # start+1 [marketing]
    task = await http.ok(CREATE_TASK, {"input": {"opportunityId": sales_opp["id"], "title": "Review", "departmentKey": "legal"}})
    assert task["createTask"]["userErrors"] == []  # start+2 [legal, sales]
    await http.create("Other sales deal")  # start+3 [sales]
    task = await http.ok(CREATE_TASK, {"input": {"opportunityId": sales_opp["id"], "title": "Brief", "departmentKey": "marketing"}})
    assert task["createTask"]["userErrors"] == []  # start+4 [marketing, sales]
    expected = [
        [start + 2, start + 4],
        [start + 1, start + 4],
        [start + 1, start + 2, start + 4],
        [start + 2, start + 4],
        [start + 1, start + 2, start + 3, start + 4],
        [start + 1, start + 4],
        [start + 1, start + 4],
    ]
    for sock, want, (_token, variables) in zip(sockets, expected, cases):
        assert await sock.seqs(len(want)) == want, variables
    # Nothing beyond those: a marker every subscription wants arrives next.
    await http.ok(CREATE_TASK, {"input": {"opportunityId": sales_opp["id"], "title": "Marker", "departmentKey": "marketing"}})
    for sock, (_token, variables) in zip(sockets, cases):
        assert await sock.seqs(1) == [start + 5], variables
    # Every page of those five events went to every subscriber by the pump.
    assert chan.pages > pages
    assert chan.direct_deliveries - before == (chan.pages - pages) * len(cases)
    for sock in sockets:
        await sock.close()
    await http.aclose()


async def test_stalled_socket_is_closed_4429_without_holding_up_others_on_the_direct_path(database_url, org):
    settings = Settings(database_url=database_url, broadcast_url="memory://", ws_connection_buffer_bytes=256 * 1024,
                        catch_up_seconds=0)
    async with start_server(settings) as server:
        fast = await open_socket(server.ws, org.tokens["marketing_member"])
        await fast.subscribe(BIG)
        slow = await stalled_socket(server.ws, org.tokens["legal_member"])
        await slow.subscribe(BIG)
        await _parked(server, org.id, 2)
        chan = _channel(server, org.id)
        feeds = list(chan.feeds)
        writers = {feed: feed.tap.handler.writer for feed in feeds}
        start = await log_head(org.db, org.id)
        async with fast.collecting() as received:
            for _ in range(100):  # bounded: ~8 MB of events
                await burst(org, server.hub, 20)
                if any(writer.closed for writer in writers.values()):
                    break
            assert sum(writer.closed for writer in writers.values()) == 1, "exactly the stalled socket is given up"
            stalled = next(feed for feed, writer in writers.items() if writer.closed)
            # It overflowed on its socket's queue, not on its own buffer: the pump wrote
            # for it directly and never woke its task.
            assert stalled._pages == [] and not stalled.overflowed
            assert chan.direct_deliveries > 0
            head = await log_head(org.db, org.id)
            await wait_for(lambda: _true(len(received) >= head - start), timeout=20)
            assert received == list(range(start + 1, head + 1))
        assert await slow.closed_code(timeout=15) == SLOW_READER.code
        assert slow.ws.close_reason == SLOW_READER.reason
        await fast.close()


async def test_stalled_socket_catches_up_in_order_when_it_reads_again(database_url, org):
    """The socket's queue holds deliveries while the client does not read; messages of
    the subscriber's own path (a replay on a second subscription) queue behind them.
    Reading again, the client gets everything once, in order, per subscription."""
    settings = Settings(database_url=database_url, broadcast_url="memory://", ws_connection_buffer_bytes=64 * 2**20,
                        catch_up_seconds=0)
    async with start_server(settings) as server:
        start = await log_head(org.db, org.id)
        slow = await stalled_socket(server.ws, org.tokens["legal_member"])
        live_op = await slow.subscribe(BIG)
        await _parked(server, org.id, 1)
        chan = _channel(server, org.id)
        (feed,) = chan.feeds
        writer = feed.tap.handler.writer
        for _ in range(200):  # until the socket stops taking messages (bounded: ~16 MB)
            await burst(org, server.hub, 20)
            if writer.queued:
                break
        assert writer.queued, "the socket never filled up"
        replay_op = await slow.subscribe(BIG, {"after": start})  # its replay waits behind the queue
        await burst(org, server.hub, 10)
        head = await log_head(org.db, org.id)
        got: dict[str, list[int]] = {live_op: [], replay_op: []}
        while len(got[live_op]) < head - start or len(got[replay_op]) < head - start:
            op, data = await slow.next_data(timeout=20)
            got[op].append(data["boardEvents"]["seq"])
        assert got[live_op] == list(range(start + 1, head + 1))
        assert got[replay_op] == list(range(start + 1, head + 1))
        assert chan.direct_deliveries > 0 and not feed.overflowed
        await slow.nothing_within(0.3)
        await slow.close()


async def test_results_still_loading_are_left_to_the_subscriber(live_server, org, monkeypatch):
    """The pump waits at most LATER_WAIT for nested fields; past it the page goes to
    the subscriber's own path, still once and in order."""
    monkeypatch.setattr(hub, "LATER_WAIT", 0)
    http = Http(live_server.http, org)
    sockets = []
    for who in ("product_member", "legal_member"):
        sock = await open_socket(live_server.ws, org.tokens[who])
        await sock.subscribe(BOARD_EVENTS)
        sockets.append(sock)
    await _parked(live_server, org.id, len(sockets))
    chan = _channel(live_server, org.id)
    start, before = await log_head(org.db, org.id), chan.direct_deliveries
    created = [await http.create(f"Deal {i}") for i in range(3)]
    for sock in sockets:
        got = await sock.take(3)
        assert [d["boardEvents"]["seq"] for d in got] == [start + 1, start + 2, start + 3]
        assert [d["boardEvents"]["opportunity"] for d in got] == created
        await sock.nothing_within(0.3)
        await sock.close()
    assert chan.direct_deliveries == before
    await http.aclose()


async def test_legacy_protocol_takes_the_subscribers_own_path(live_server, org):
    http = Http(live_server.http, org)
    start = await log_head(org.db, org.id)
    sock = await open_socket(live_server.ws, org.tokens["legal_member"], protocol=LEGACY_WS)
    await sock.subscribe(BOARD_EVENTS, {"after": start})
    await wait_for(lambda: _true(_channel(live_server, org.id) is not None and len(_channel(live_server, org.id).feeds) == 1))
    (feed,) = _channel(live_server, org.id).feeds
    assert feed.tap is None
    await http.create("Over the old protocol")
    assert await sock.seqs(1) == [start + 1]
    assert _channel(live_server, org.id).direct_deliveries == 0
    await sock.close()
    await http.aclose()


def test_variables_only_choosing_events_do_not_split_shared_execution():
    def data_vars(query: str) -> set[str]:
        doc = parse(query)
        op = doc.definitions[0]
        fragments = {d.name.value: d for d in doc.definitions[1:]}
        return set(data_variables(op, fragments))

    assert data_vars("subscription($after: Int, $k: [String!]) { boardEvents(after: $after, departmentKeys: $k) { seq } }") == set()
    assert data_vars(
        "subscription($after: Int, $n: Int) { boardEvents(after: $after) { opportunity { tasks(first: $n) { totalCount } } } }"
    ) == {"n"}
    assert data_vars("subscription($a: Int, $b: Boolean!) { boardEvents(after: $a) @include(if: $b) { seq } }") == {"b"}
    assert data_vars(
        "subscription($a: Int, $b: Boolean!) { boardEvents(after: $a) { ...F } } fragment F on BoardEvent { seq @skip(if: $b) }"
    ) == {"b"}


async def _true(value: bool) -> bool:
    return value
