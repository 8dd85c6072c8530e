"""The demo seeds through the resolvers: a contract deal after an approved approval, and board
badges; in English by default and in Chinese with `--locale zh-CN`, on SQLite and PostgreSQL
(each test seeds a database of its own: the demo's sign-in emails are unique)."""
import re
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from api.demo import DEMO_PASSWORD, seed_demo
from api.settings import Settings
from db import models as m
from db.engine import Database
from db.migrate import upgrade
from db.types import utcnow
from resolvers.alerts import raise_alerts
from tests.faults.live import fresh_database

CJK_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}")


@pytest.fixture(params=["sqlite", "postgres"])
async def demo_url(request, tmp_path):
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
        await upgrade(url)
        yield url
        return
    async with fresh_database() as url:
        yield url


async def assert_story_seeded(db: Database) -> None:
    async with db.read() as s:
        contract = (await s.execute(select(m.Opportunity).join(m.Stage, m.Stage.id == m.Opportunity.stage_id).where(m.Stage.key == "contract"))).scalars().all()
        assert len(contract) == 1
        statuses = {(a.kind, a.status) for a in (await s.execute(select(m.Approval))).scalars()}
        assert ("contract", "APPROVED") in statuses and ("discount", "PENDING") in statuses
        pending = (await s.execute(select(m.Handoff).where(m.Handoff.status == "PENDING"))).scalars().all()
        assert len(pending) == 1
        # The story's alerts are raised and everything it sent is read: a fresh demo starts at
        # inbox zero for every user, and the alerts job a minute later finds nothing new to toast about.
        assert (await s.execute(select(m.Alert))).first() is not None
        assert await s.scalar(select(func.count()).select_from(m.Notification)) > 0
        assert (await s.execute(select(m.Notification).where(m.Notification.read_at.is_(None)))).first() is None
    assert await raise_alerts(db, utcnow() + timedelta(minutes=2), Settings()) == 0


async def test_demo_has_workflow_badges(demo_url):
    db = Database(demo_url)
    try:
        assert await seed_demo(db)
        await assert_story_seeded(db)
        async with db.read() as s:
            org = (await s.execute(select(m.Organization))).scalar_one()
            assert (org.name, org.base_currency, org.locale, org.time_zone) == ("Demo", "USD", "en", "UTC")
            admin = (await s.execute(select(m.User).where(m.User.email == "admin@demo.baton"))).scalar_one()
            assert admin.name == "Ada Admin"
            assert await s.scalar(select(m.Department.name).where(m.Department.key == "legal")) == "Legal"
        assert not await seed_demo(db)
        assert not await seed_demo(db, locale="zh-CN")  # one demo per database: the sign-ins are shared
    finally:
        await db.dispose()


BOARD = """{ baseCurrency board { columns { stage { key name } totals { amount currency }
  baseTotal { amount currency rateDate missingRates } } } }"""
LOGIN = 'mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { code } } }'
UNREAD = "{ viewer { name } notifications(first: 1) { unreadCount } }"


async def test_chinese_demo(demo_url):
    db = Database(demo_url)
    try:
        assert await seed_demo(db, locale="zh-CN")
        await assert_story_seeded(db)
        async with db.read() as s:
            org = (await s.execute(select(m.Organization))).scalar_one()
            assert (org.name, org.base_currency, org.locale, org.time_zone) == ("Baton 演示", "CNY", "zh-CN", "Asia/Shanghai")
            people = dict((await s.execute(select(m.User.email, m.User.name))).all())
            assert people["admin@demo.baton"] == "王芳" and people["sales@demo.baton"] == "李强"
            assert len(people) == 9 and all(CJK_NAME.fullmatch(name) for name in people.values()), people
            departments = dict((await s.execute(select(m.Department.key, m.Department.name))).all())
            assert departments == {"sales": "销售", "marketing": "市场", "product": "产品", "legal": "法务", "finance": "财务"}
            accounts = set((await s.execute(select(m.Account.name))).scalars())
            assert "上海星辰科技有限公司" in accounts
            deals = (await s.execute(select(m.Opportunity.title, m.Opportunity.currency, m.Opportunity.amount))).all()
            currencies = sorted(c for _, c, amount in deals if amount is not None)
            assert currencies.count("CNY") >= 6 and currencies.count("USD") == 1 and currencies.count("EUR") == 1
            # The story's words are Chinese: titles, tasks, comments, handoff notes, lost reasons.
            texts = [t for t, *_ in deals]
            texts += (await s.execute(select(m.Task.title))).scalars().all()
            texts += (await s.execute(select(m.Comment.body))).scalars().all()
            texts += (await s.execute(select(m.Handoff.note).where(m.Handoff.note.is_not(None)))).scalars().all()
            texts += (await s.execute(select(m.Handoff.response_note).where(m.Handoff.response_note.is_not(None)))).scalars().all()
            texts += (await s.execute(select(m.Opportunity.lost_reason).where(m.Opportunity.lost_reason.is_not(None)))).scalars().all()
            assert len(texts) > 20 and all(re.search(r"[\u4e00-\u9fff]", t) for t in texts), texts
            rates = {(r.currency, r.base_currency): r.rate for r in (await s.execute(select(m.ExchangeRate))).scalars()}
            assert rates == {("USD", "CNY"): Decimal("7.1"), ("EUR", "CNY"): Decimal("7.75")}
    finally:
        await db.dispose()

    # Through the API, as each demo user: totals per currency and converted, and an empty inbox.
    settings = Settings(database_url=demo_url, broadcast_url="memory://", alerts_interval_seconds=0,
                        channel_interval_seconds=0, webhook_interval_seconds=0)
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as client:
        async def gql(query, variables=None, token=None):
            headers = {"authorization": f"Bearer {token}"} if token else {}
            body = (await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)).json()
            assert "errors" not in body, body
            return body["data"]

        tokens = {}
        for email in ("admin@demo.baton", "sales@demo.baton", "marketing@demo.baton", "product@demo.baton", "legal@demo.baton",
                      "legal2@demo.baton", "finance@demo.baton", "finance.manager@demo.baton", "viewer@demo.baton"):
            login = (await gql(LOGIN, {"e": email, "p": DEMO_PASSWORD}))["login"]
            assert login["userErrors"] == [], email
            tokens[email] = login["token"]
            unread = await gql(UNREAD, token=login["token"])
            assert CJK_NAME.fullmatch(unread["viewer"]["name"]) and unread["notifications"]["unreadCount"] == 0, (email, unread)

        board = await gql(BOARD, token=tokens["admin@demo.baton"])
        assert board["baseCurrency"] == "CNY"
        columns = {c["stage"]["key"]: c for c in board["board"]["columns"]}
        assert columns["negotiation"]["stage"]["name"] == "商务谈判"
        # 谈判: 1,700,000 + 8,800,000 CNY and 64,000 USD at 7.1 = 454,400 CNY.
        negotiation = columns["negotiation"]
        assert negotiation["totals"] == [{"amount": "10500000.00", "currency": "CNY"}, {"amount": "64000.00", "currency": "USD"}]
        assert negotiation["baseTotal"]["amount"] == "10954400.00" and negotiation["baseTotal"]["missingRates"] == []
        assert negotiation["baseTotal"]["rateDate"] is not None
        # 合同: 290,000 EUR at 7.75.
        assert columns["contract"]["totals"] == [{"amount": "290000.00", "currency": "EUR"}]
        assert columns["contract"]["baseTotal"]["amount"] == "2247500.00"
        assert all(c["baseTotal"]["currency"] == "CNY" and c["baseTotal"]["amount"] is not None for c in columns.values())


async def test_the_command_line_seeds_the_demo_in_the_language_asked_for(tmp_path):
    import sqlite3

    from tests.api.test_cli import baton

    refused = baton(tmp_path, "demo", "--locale", "fr")
    assert refused.returncode == 2 and "invalid choice: 'fr'" in refused.stderr
    seeded = baton(tmp_path, "demo", "--locale", "zh-CN")
    assert seeded.returncode == 0, seeded.stderr
    assert "Seeded the demo organization." in seeded.stdout
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        assert conn.execute("SELECT name, locale, time_zone, base_currency FROM organizations").fetchall() == [
            ("Baton 演示", "zh-CN", "Asia/Shanghai", "CNY")]
