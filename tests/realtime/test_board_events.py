"""boardEvents and notificationAdded over real websockets against a real uvicorn
server, on SQLite and PostgreSQL (memory broadcast, one process)."""

import pytest

from api.live.codes import CloseCode
from resolvers.live import log_head
from tests.conftest import wait_for
from tests.realtime.wsclient import (
    BOARD_EVENTS,
    LEGACY_WS,
    Http,
    open_socket,
    subscribe_while_writing,
)

CREATE_TASK = """
mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } userErrors { code message } } }"""
ADD_COMMENT = """
mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } userErrors { code message } } }"""
NOTIFICATIONS = "subscription { notificationAdded { id kind message opportunity { title } } }"


@pytest.fixture
async def http(live_server, org):
    client = Http(live_server.http, org)
    yield client
    await client.aclose()


async def subscribed(server, org_id: int, count: int = 1) -> None:
    """Wait until `count` subscriptions listen on the organization's channel."""

    async def ready():
        chan = server.hub.channels.get(org_id)
        return chan is not None and chan.ready.is_set() and len(chan.feeds) >= count

    await wait_for(ready)


async def test_live_event_reaches_another_departments_subscriber(live_server, org, http):
    before = await http.create("Before the subscription")
    sock = await open_socket(live_server.ws, org.tokens["marketing_member"])
    await sock.subscribe(BOARD_EVENTS)  # no `after`: live from the current end of the log
    await subscribed(live_server, org.id)
    created = await http.create("Fleet pilot")
    (data,) = await sock.take(1)
    event = data["boardEvents"]
    assert event["type"] == "OPPORTUNITY_CREATED"
    assert event["seq"] == await log_head(org.db, org.id)
    assert event["departmentKeys"] == ["sales"]
    assert event["opportunity"] == created != before
    await sock.close()


async def test_after_replays_stored_events_then_continues_live(live_server, org, http):
    start = await log_head(org.db, org.id)
    for i in range(3):
        await http.create(f"Stored {i}")
    sock = await open_socket(live_server.ws, org.tokens["sales_viewer"])
    await sock.subscribe(BOARD_EVENTS, {"after": start})
    assert await sock.seqs(3) == [start + 1, start + 2, start + 3]
    await http.create("Live")
    assert await sock.seqs(1) == [start + 4]
    await sock.close()


async def test_replay_live_seam_has_no_gap_and_no_duplicate(live_server, org, http):
    """Mutations keep committing while subscribers switch from replay to live."""
    end, sockets = await subscribe_while_writing(live_server, org, http, BOARD_EVENTS, (0, 2, 5))
    assert await log_head(org.db, org.id) == end
    for after, sock in sockets:
        assert await sock.seqs(end - after) == list(range(after + 1, end + 1))
        await sock.nothing_within(0.3)
        await sock.close()


async def test_socket_without_token_is_closed_with_4403(live_server):
    sock = await open_socket(live_server.ws, None)
    assert await sock.closed_code() == CloseCode.FORBIDDEN


async def test_socket_with_unknown_token_is_closed_with_4403(live_server):
    sock = await open_socket(live_server.ws, "not-a-token", expect_ack=False)
    assert await sock.closed_code() == CloseCode.FORBIDDEN


async def test_filters_by_type_department_and_opportunity(live_server, org, http):
    start = await log_head(org.db, org.id)
    sales_opp = await http.create("Sales deal")  # start+1, [sales]
    await http.create("Marketing deal", as_="marketing_member")  # start+2, [marketing]
    task = await http.ok(CREATE_TASK, {"input": {"opportunityId": sales_opp["id"], "title": "Review", "departmentKey": "legal"}})
    assert task["createTask"]["userErrors"] == []  # start+3, [legal, sales]
    await http.create("Other sales deal")  # start+4, [sales]

    cases = [
        ({"types": ["TASK_CREATED"]}, [start + 3]),
        ({"departmentKeys": ["marketing"]}, [start + 2]),
        ({"departmentKeys": ["legal", "marketing"]}, [start + 2, start + 3]),
        ({"opportunityId": sales_opp["id"]}, [start + 1, start + 3]),
        ({"types": ["OPPORTUNITY_CREATED"], "departmentKeys": ["sales"]}, [start + 1, start + 4]),
    ]
    sock = await open_socket(live_server.ws, org.tokens["finance_member"])
    for variables, expected in cases:
        op = await sock.subscribe(BOARD_EVENTS, {"after": start, **variables})
        got = await sock.seqs(len(expected))
        assert got == expected, variables
        await sock.send({"id": op, "type": "complete"})
    # Nothing beyond the expected ones was sent: a live marker matching none of the
    # filters arrives on a fresh unfiltered subscription and no filtered one spoke.
    await sock.subscribe(BOARD_EVENTS, {"after": start + 4})
    await http.create("Marker", as_="product_member")
    assert await sock.seqs(1) == [start + 5]
    await sock.close()


async def test_department_scoped_token_sees_only_its_department(live_server, org, http):
    token = await org.department_token("marketing_member", "marketing")
    start = await log_head(org.db, org.id)
    sales_opp = await http.create("Sales only")  # start+1 [sales]: hidden
    await http.create("Marketing", as_="marketing_member")  # start+2 [marketing]
    await http.ok(CREATE_TASK, {"input": {"opportunityId": sales_opp["id"], "title": "Brief", "departmentKey": "marketing"}})
    sock = await open_socket(live_server.ws, token)
    # Even asking for sales events explicitly does not widen the scope.
    await sock.subscribe(BOARD_EVENTS, {"after": start, "departmentKeys": ["sales", "marketing"]})
    assert await sock.seqs(2) == [start + 2, start + 3]
    await http.create("Sales again")  # start+4: hidden
    await http.create("Marketing again", as_="marketing_member")  # start+5
    assert await sock.seqs(1) == [start + 5]
    await sock.close()


async def test_legacy_graphql_ws_protocol(live_server, org, http):
    start = await log_head(org.db, org.id)
    sock = await open_socket(live_server.ws, org.tokens["legal_member"], protocol=LEGACY_WS)
    await sock.subscribe(BOARD_EVENTS, {"after": start})
    await http.create("Over the old protocol")
    assert await sock.seqs(1) == [start + 1]
    await sock.close()


async def test_legacy_protocol_rejects_missing_token(live_server):
    sock = await open_socket(live_server.ws, None, protocol=LEGACY_WS)
    message = await sock.recv()
    assert message["type"] == "connection_error"
    assert await sock.closed_code() != 1000


async def test_failed_publish_is_caught_up_from_the_log(live_server, org, http, monkeypatch):
    start = await log_head(org.db, org.id)
    sock = await open_socket(live_server.ws, org.tokens["sales_manager"])
    await sock.subscribe(BOARD_EVENTS, {"after": start})
    await subscribed(live_server, org.id)

    async def broken_publish(org_id, message):
        raise ConnectionError("broadcast backend is down")

    monkeypatch.setattr(live_server.hub, "publish", broken_publish)
    await http.create("Never announced")
    # The periodic check (catch_up_seconds=0.5 here) notices the log moved on.
    assert await sock.seqs(1, timeout=5) == [start + 1]
    await sock.close()


async def test_notification_added_delivers_only_the_viewers_notifications(live_server, org, http):
    opp = await http.create("Mentions")
    sock = await open_socket(live_server.ws, org.tokens["marketing_member"])
    await sock.subscribe(NOTIFICATIONS)
    await subscribed(live_server, org.id)
    for body in ("no mention here", "@legal_member please look", "@marketing_member your turn"):
        result = await http.ok(ADD_COMMENT, {"input": {"opportunityId": opp["id"], "body": body}})
        assert result["addComment"]["userErrors"] == []
    (data,) = await sock.take(1)
    note = data["notificationAdded"]
    assert note["kind"] == "mention"
    assert "your turn" in note["message"]
    assert note["opportunity"]["title"] == "Mentions"
    await sock.nothing_within(0.3)
    await sock.close()
