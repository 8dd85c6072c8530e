"""The replay fast paths of api/live/ give clients exactly what graphql-core
would: a plain selection (only the event's attribute fields) is completed from the
row directly (`selection.plain_plan`), replayed events reach the executor in batches
(live.ReplayBatch) and still leave as one `next` message each."""
from datetime import datetime, timedelta, timezone

import pytest
from graphql import parse
from graphql.execution import Executor, MiddlewareManager

from api.live import execution
from api.live.execution import SharedData, SharedEventExecutor, install_shared_execution
from db import models as m
from resolvers.live import log_head
from schema import build_schema
from tests.realtime.wsclient import BOARD_EVENTS, LEGACY_WS, Http, open_socket

PLAIN = [
    "subscription { boardEvents { seq } }",
    "subscription { boardEvents { seq type } }",
    "subscription($after: Int) { boardEvents(after: $after) { seq type occurredAt departmentKeys changes __typename } }",
    "subscription { e: boardEvents { n: seq t: type at: occurredAt keys: departmentKeys c: changes seq } }",
    "subscription Named { boardEvents(departmentKeys: [\"sales\"]) { changes changes seq __typename } }",
]
NOT_PLAIN = [
    "subscription { boardEvents { seq opportunity { id } } }",
    "subscription { boardEvents { seq actor { handle } } }",
    "subscription { boardEvents { seq @include(if: true) type } }",
    "subscription { boardEvents @skip(if: false) { seq } }",
    "subscription { boardEvents { ...F } } fragment F on BoardEvent { seq type }",
    "subscription { boardEvents { ... on BoardEvent { seq } } }",
    "subscription { notificationAdded { id } }",
]

T0 = datetime(2026, 11, 22, 21, 54, 56, 123456, tzinfo=timezone.utc)


def _events() -> list[m.Event]:
    rows = [
        m.Event(seq=1, type="OPPORTUNITY_CREATED", occurred_at=T0, department_keys=["sales"], changes={"title": "A"}),
        m.Event(seq=2, type="OPPORTUNITY_UPDATED", occurred_at=T0 + timedelta(seconds=1), department_keys=[],
                changes={"amount": [1, 2.5], "nested": {"x": None, "y": ["é", True]}}),
        m.Event(seq=3, type="TASK_CREATED", occurred_at=datetime(2026, 1, 1), department_keys=["sales", "legal"],
                changes=None),
        m.Event(seq=4, type="OPPORTUNITY_UPDATED", occurred_at=T0, department_keys=("legal",), changes={}),
    ]
    return rows


@pytest.fixture(scope="module")
def schema():
    built = build_schema()
    install_shared_execution(built)
    return built


def _executor(schema, query: str, variables: dict | None = None):
    # As Strawberry builds it: always with a (here empty) middleware manager.
    return SharedEventExecutor.build(schema._schema, parse(query), raw_variable_values=variables or {}, middleware=MiddlewareManager())


@pytest.mark.parametrize("query", PLAIN)
def test_plain_selection_equals_graphql_core(schema, query):
    executor = _executor(schema, query, {"after": 0})
    plan = executor.plain_plan()
    assert plan, "expected the plain fast path"
    for event in _events():
        expected = Executor.build_per_event_executor(executor, event).execute_operation(False)
        assert not expected.errors
        got = executor.build_per_event_executor(event).execute_operation(False)
        assert got.errors is None
        assert got.data == expected.data
        assert list(got.data) == list(expected.data)  # same key order, so the same JSON text
        for key in got.data:
            assert list(got.data[key]) == list(expected.data[key])


@pytest.mark.parametrize("query", NOT_PLAIN)
def test_other_selections_go_through_graphql_core(schema, query):
    assert _executor(schema, query).plain_plan() is False


def test_what_the_plan_cannot_complete_is_left_to_graphql_core(schema):
    executor = _executor(schema, "subscription { boardEvents { seq type } }")
    bad = m.Event(seq=None, type="OPPORTUNITY_CREATED", occurred_at=T0, department_keys=[], changes=None)
    assert executor.plain_plan()(bad) is None
    result = executor.build_per_event_executor(bad).execute_operation(False)
    assert result.data is None and result.errors  # graphql-core's own non-null error
    unknown = m.Event(seq=5, type="NOT_A_TYPE", occurred_at=T0, department_keys=[], changes=None)
    assert executor.plain_plan()(unknown) is None


def test_batch_of_events_equals_one_execution_each(schema):
    from resolvers.live import ReplayBatch

    for query in (PLAIN[2], PLAIN[3]):
        executor = _executor(schema, query, {"after": 0})
        rows = _events()
        batch = executor.build_per_event_executor(ReplayBatch(rows)).execute_operation(False)
        expected = [Executor.build_per_event_executor(executor, e).execute_operation(False).data for e in rows]
        assert list(batch.data) == expected
        assert type(batch.data) is not SharedData


SLOW = """subscription($after: Int) { boardEvents(after: $after) {
  seq @include(if: true) type occurredAt departmentKeys changes __typename } }"""
FAST = "subscription($after: Int) { boardEvents(after: $after) { seq type occurredAt departmentKeys changes __typename } }"


async def test_replay_sends_one_message_per_event_equal_to_graphql_core(live_server, org):
    http = Http(live_server.http, org)
    try:
        start = await log_head(org.db, org.id)
        for i in range(5):
            await http.create(f"Replayed {i}")
        head = await log_head(org.db, org.id)
        sock = await open_socket(live_server.ws, org.tokens["sales_member"])
        fast_id = await sock.subscribe(FAST, {"after": start})
        slow_id = await sock.subscribe(SLOW, {"after": start})
        got: dict[str, list] = {fast_id: [], slow_id: []}
        while len(got[fast_id]) < head - start or len(got[slow_id]) < head - start:
            message = await sock.recv()
            assert message["type"] == "next", message
            assert set(message["payload"]) == {"data"}
            got[message["id"]].append(message["payload"]["data"])
        assert [d["boardEvents"]["seq"] for d in got[fast_id]] == list(range(start + 1, head + 1))
        assert got[fast_id] == got[slow_id]
        # the same events through the `events` query
        page = await http.ok("query($after: Int) { events(after: $after, first: 100) { edges { node {"
                             " seq type occurredAt departmentKeys changes __typename } } } }", {"after": start})
        assert [{"boardEvents": e["node"]} for e in page["events"]["edges"]] == got[fast_id]
        await sock.close()
        # the legacy protocol gets events one by one (no batches there), the same data
        legacy = await open_socket(live_server.ws, org.tokens["sales_member"], LEGACY_WS)
        await legacy.subscribe(FAST, {"after": start})
        assert await legacy.take(head - start) == got[fast_id]
        await legacy.close()
    finally:
        await http.aclose()


@pytest.mark.parametrize("loaders_every", [100, 1], ids=["one-cache", "cache-dropped-between-events"])
async def test_replay_with_nested_fields_in_batches(live_server, org, monkeypatch, loaders_every):
    # Replayed events that load data drop their loaded rows every LOADERS_EVERY events.
    monkeypatch.setattr(execution, "LOADERS_EVERY", loaders_every)
    http = Http(live_server.http, org)
    try:
        start = await log_head(org.db, org.id)
        titles = [f"Nested {i}" for i in range(3)]
        for title in titles:
            await http.create(title)
        sock = await open_socket(live_server.ws, org.tokens["sales_member"])
        await sock.subscribe(BOARD_EVENTS, {"after": start})
        data = await sock.take(3)
        assert [d["boardEvents"]["opportunity"]["title"] for d in data] == titles
        assert [d["boardEvents"]["seq"] for d in data] == [start + 1, start + 2, start + 3]
        await sock.close()
    finally:
        await http.aclose()


async def test_replayed_errors_are_masked(live_server, org, monkeypatch):
    """A failing nested field in a replay batch: that event's message carries the
    masked error (request id, no internals); the others are delivered as usual."""
    from schema import events as schema_events

    http = Http(live_server.http, org)
    try:
        start = await log_head(org.db, org.id)
        for i in range(3):
            await http.create(f"Failing {i}")

        async def broken(self, info):
            if self.seq == start + 2:
                raise RuntimeError("secret internals")
            return None

        monkeypatch.setattr(schema_events.BoardEvent, "actor", broken, raising=False)
        # The resolver Strawberry calls is the field's base resolver: patch that.
        field = next(f for f in schema_events.BoardEvent.__strawberry_definition__.fields if f.name == "actor")
        monkeypatch.setattr(field.base_resolver, "wrapped_func", broken)
        sock = await open_socket(live_server.ws, org.tokens["sales_member"])
        await sock.subscribe("subscription($after: Int) { boardEvents(after: $after) { seq actor { handle } } }",
                             {"after": start})
        messages = [await sock.recv() for _ in range(3)]
        assert [m_["type"] for m_ in messages] == ["next"] * 3
        ok = [m_["payload"] for m_ in messages if "errors" not in m_["payload"]]
        bad = [m_["payload"] for m_ in messages if "errors" in m_["payload"]]
        assert len(ok) == 2 and len(bad) == 1
        (error,) = bad[0]["errors"]
        assert "secret" not in error["message"] and error["message"].startswith("Internal server error")
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert bad[0]["data"] == {"boardEvents": {"seq": start + 2, "actor": None}}
        await sock.close()
    finally:
        await http.aclose()
