"""The tables that grow with activity have 64-bit ids (migration 0012): rows past 2**31
are written, paged, fetched by global id and marked read, while ids past a table's
range are the client's mistake (NOT_FOUND / a bad cursor), never a server error."""
import base64

from sqlalchemy import func, select, text

from db import models as m
from db.engine import Database
from db.migrate import upgrade
from tests.faults.live import fresh_database

BIG = 3_000_000_000  # past 2**31 - 1
OPP = 'mutation { createOpportunity(input: {title: "海外扩展", accountName: "Northwind"}) { opportunity { id } } }'
COMMENT = """mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id body } userErrors { code } } }"""
INBOX = """query($after: String) { notifications(first: 1, after: $after) {
  edges { cursor node { id message } } pageInfo { hasNextPage } } }"""


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def jump_past_32_bits(db, backend) -> None:
    """Renumber the newest comment, notification and event to BIG, so the next rows
    get BIG + 1 (SQLite takes max(id) + 1; PostgreSQL's sequences are moved too)."""
    async with db.write() as session:
        for model in (m.Comment, m.Notification, m.Event):
            newest = await session.scalar(select(func.max(model.id)))
            table = model.__tablename__
            await session.execute(text(f"UPDATE {table} SET id = :big WHERE id = :id"), {"big": BIG, "id": newest})
            if backend == "postgres":
                await session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :big)"), {"big": BIG})


async def test_rows_past_32_bits_work_end_to_end(gql, org, db, backend):
    opp = (await gql.ok(OPP))["createOpportunity"]["opportunity"]["id"]
    first = {"opportunityId": opp, "body": "@legal_member 请看合同"}
    assert (await gql.ok(COMMENT, {"input": first}))["addComment"]["userErrors"] == []
    await jump_past_32_bits(db, backend)

    second = await gql.ok(COMMENT, {"input": {**first, "body": "@legal_member 第二轮修改"}})
    comment_id = second["addComment"]["comment"]["id"]
    async with db.read() as session:
        assert await session.scalar(select(func.max(m.Comment.id))) > BIG
        assert await session.scalar(select(func.max(m.Notification.id))) > BIG
        assert await session.scalar(select(func.max(m.Event.id))) > BIG

    node = await gql.ok("query($id: ID!) { node(id: $id) { ... on Comment { body } } }", {"id": comment_id})
    assert node["node"] == {"body": "@legal_member 第二轮修改"}

    # Both notifications, one page each: the cursor past 2**31 pages on.
    page1 = (await gql.ok(INBOX, as_="legal_member"))["notifications"]
    assert page1["pageInfo"]["hasNextPage"] is True
    page2 = (await gql.ok(INBOX, {"after": page1["edges"][0]["cursor"]}, as_="legal_member"))["notifications"]
    ids = [page1["edges"][0]["node"]["id"], page2["edges"][0]["node"]["id"]]
    assert ids[0] != ids[1]
    read = await gql.ok(
        "mutation($ids: [ID!]) { markNotificationsRead(input: {ids: $ids}) { unreadCount } }", {"ids": ids[:1]}, as_="legal_member"
    )
    assert read["markNotificationsRead"]["unreadCount"] == 1

    events = (await gql.ok("{ events(first: 100) { edges { node { seq type } } } }"))["events"]["edges"]
    assert [e["node"]["type"] for e in events].count("COMMENT_ADDED") == 2


async def test_ids_past_a_tables_range_are_not_found(gql, org):
    """An Opportunity id past INTEGER, a Comment id past BIGINT: NOT_FOUND, no server error."""
    for type_name, pk in (("Opportunity", 2**31), ("Comment", 2**63)):
        body = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": gid(type_name, pk)})
        assert body.get("data", {}).get("node") is None
        assert "Internal" not in str(body)
    bad = await gql(COMMENT, {"input": {"opportunityId": gid("Opportunity", 2**31), "body": "x"}})
    assert bad["data"]["addComment"]["userErrors"] == [{"code": "NOT_FOUND"}]


async def test_migration_widens_an_existing_database(tmp_path, backend):
    """0011 → 0012 on a database that already holds events: rows survive, and on
    PostgreSQL the columns and their sequences are 64-bit afterwards."""
    if backend == "postgres":
        async with fresh_database("0011") as url:
            await widen_and_check(url, backend)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        await upgrade(url, "0011")
        await widen_and_check(url, backend)


async def widen_and_check(url: str, backend: str) -> None:
    db = Database(url)
    async with db.write() as session:
        await session.execute(text("INSERT INTO organizations (id, name, event_seq, created_at, base_currency, locale, time_zone) "
                                   "VALUES (1, 'Old', 7, CURRENT_TIMESTAMP, 'CNY', 'zh-CN', 'Asia/Shanghai')"))
        await session.execute(text("INSERT INTO events (id, org_id, seq, type, occurred_at, department_keys) "
                                   "VALUES (5, 1, 7, 'OPPORTUNITY_CREATED', CURRENT_TIMESTAMP, '[]')"))
    await db.dispose()
    await upgrade(url)
    db = Database(url)
    try:
        async with db.write() as session:
            assert (await session.execute(text("SELECT id, seq FROM events"))).all() == [(5, 7)]
            await session.execute(text("INSERT INTO events (id, org_id, seq, type, occurred_at, department_keys) "
                                       f"VALUES ({BIG}, 1, {BIG}, 'OPPORTUNITY_CREATED', CURRENT_TIMESTAMP, '[]')"))
            if backend == "postgres":
                types = dict((await session.execute(text(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE column_name IN ('id', 'seq', 'event_seq', 'comment_id') AND table_name IN ('events', 'notifications', 'organizations')"
                ))).all())
                assert types == {
                    "events.id": "bigint", "events.seq": "bigint", "events.comment_id": "bigint",
                    "notifications.id": "bigint", "notifications.event_seq": "bigint",
                    "organizations.id": "integer", "organizations.event_seq": "bigint",
                }
                sequence_type = await session.scalar(text("SELECT data_type FROM information_schema.sequences WHERE sequence_name = 'events_id_seq'"))
                assert sequence_type == "bigint"
    finally:
        await db.dispose()
