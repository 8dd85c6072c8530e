"""The demo organization: seeded once, through the same rules the API uses."""
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from api.settings import Settings
from db import models as m
from db.engine import Database
from db.types import utcnow
from resolvers import approvals, comments, handoffs, money, opportunities, stage_work, tasks
from resolvers.alerts import raise_alerts
from resolvers.context import Ctx, Viewer
from resolvers.errors import UserErrors
from resolvers.ids import to_global
from resolvers.setup import DEFAULT_STAGES, create_organization, create_user

DEMO_ORG = "Demo"
DEMO_PASSWORD = "baton-demo"
DEMO_USERS = [
    # email, name, department, role
    ("admin@demo.baton", "Ada Admin", "sales", "ADMIN"),
    ("sales@demo.baton", "Sam Sales", "sales", "MEMBER"),
    ("marketing@demo.baton", "Mia Marketing", "marketing", "MEMBER"),
    ("product@demo.baton", "Pat Product", "product", "MEMBER"),
    ("legal@demo.baton", "Lee Legal", "legal", "MEMBER"),
    ("legal2@demo.baton", "Lou Legal", "legal", "MEMBER"),
    ("finance@demo.baton", "Fay Finance", "finance", "MEMBER"),
    ("finance.manager@demo.baton", "Fern Finance", "finance", "MANAGER"),
    ("viewer@demo.baton", "Vic Viewer", "sales", "VIEWER"),
]

# title, account, amount, stage, priority, tags, days to close
DEMO_DEALS = [
    ("Fleet telematics pilot", "Northwind Logistics", None, "lead", "MEDIUM", ["pilot"], None),
    ("Data platform renewal", "Contoso Retail", None, "lead", "HIGH", ["renewal"], None),
    ("EU expansion seats", "Fabrikam GmbH", None, "qualified", "MEDIUM", ["expansion", "eu"], None),
    ("Analytics add-on", "Tailspin Toys", None, "qualified", "LOW", ["upsell"], None),
    ("Hospital scheduling suite", "Lakeshore Health", Decimal("180000"), "proposal", "URGENT", ["healthcare"], 30),
    ("Warehouse robotics integration", "Northwind Logistics", Decimal("95000"), "proposal", "HIGH", ["integration"], 45),
    ("Campus-wide licence", "Woodgrove University", Decimal("240000"), "negotiation", "HIGH", ["education"], 20),
    ("Payments gateway", "Adventure Works", Decimal("64000"), "negotiation", "MEDIUM", ["fintech"], 25),
    ("Store analytics rollout", "Contoso Retail", Decimal("52000"), "won", "MEDIUM", ["retail"], -10),
    ("Claims automation", "Margie's Insurance", Decimal("130000"), "won", "HIGH", ["insurance"], -30),
    ("Field service app", "Litware Energy", Decimal("40000"), "lost", "LOW", ["energy"], -5),
    ("Shop-floor IoT", "Proseware Manufacturing", None, "lead", "MEDIUM", ["iot", "pilot"], None),
    ("Security operations platform", "Fourth Coffee", Decimal("310000"), "contract", "URGENT", ["security"], 14),
    # From 1,000,000 the contract approval also needs a finance manager: legal has approved, finance is next.
    ("Nationwide store rollout", "Contoso Retail", Decimal("1250000"), "negotiation", "HIGH", ["retail"], 40),
]


# The English demo counts in US dollars (an organization's default base); one deal is in
# euros and the rates below convert it, so the board shows a total per currency and in USD.
DEMO_CURRENCIES = {"Payments gateway": "EUR"}
DEMO_RATES = {"EUR": Decimal("1.08"), "CNY": Decimal("0.138")}


class StoryClock:
    """Seeds the demo as if its deals had unfolded over the past weeks, so the
    history, analytics, overdue tasks and stale-deal alerts have something to show."""

    def __init__(self):
        self.end = utcnow() - timedelta(minutes=5)
        self.now = self.end

    def __call__(self):
        return self.now

    def start_deal(self, days_ago: float) -> None:
        self.now = self.end - timedelta(days=days_ago)

    def advance(self, hours: float) -> None:
        self.now = min(self.now + timedelta(hours=hours), self.end)


async def seed_demo(db: Database, settings=None) -> bool:
    """Create the demo organization unless it exists. Returns True when it seeded."""
    async with db.write() as session:
        if (await session.execute(select(m.Organization).where(m.Organization.name == DEMO_ORG))).first():
            return False
        org = await create_organization(session, DEMO_ORG)
        users = {}
        for email, name, dept, role in DEMO_USERS:
            users[email.split("@")[0]] = await create_user(
                session, org, email=email, name=name, department_key=dept, role=role, password=DEMO_PASSWORD
            )
    clock = StoryClock()
    ctx = Ctx(db=db, viewer=Viewer(user=users["sales"]), clock=clock)
    stage_order = [key for key, *_ in DEFAULT_STAGES]
    today = date.today()
    for n, (title, account, amount, stage, priority, tags, days) in enumerate(DEMO_DEALS):
        clock.start_deal(days_ago=60 - 4 * n)
        opp = _ok(await opportunities.create_opportunity(ctx, {
            "title": title, "account_name": account, "amount": amount, "priority": priority, "tags": tags,
            "currency": DEMO_CURRENCIES.get(title),
            "expected_close_date": today + timedelta(days=days) if days is not None else None,
            "probability": {"lead": 10, "qualified": 25, "proposal": 40, "negotiation": 60, "contract": 80, "won": 100, "lost": 0}[stage],
        }))
        # Walk the card through the stages so its history reads like a real deal's.
        path = stage_order[1:stage_order.index(stage) + 1] if stage != "lost" else ["qualified", "proposal", stage]
        for step, key in enumerate(path):
            clock.advance(hours=20 + 26 * ((n + step) % 4))
            if key == "contract":
                await _contract_approval(db, ctx, users, opp)
            if key == "won":  # legal takes the contract's automatic handoff; then Contract's deliverables
                await _accept_handoffs(db, Ctx(db=db, viewer=Viewer(user=users["legal"]), clock=clock), opp, "Reviewing the contract")
                for item, who in (("legal-review", "legal"), ("payment-terms", "finance")):
                    _ok(await stage_work.check_deliverable(Ctx(db=db, viewer=Viewer(user=users[who]), clock=clock), {
                        "opportunity_id": to_global("Opportunity", opp.id), "stage_key": "contract", "key": item, "done": True}))
                opp = await _reloaded(db, opp)
            opp = _ok(await opportunities.move_opportunity(ctx, {
                "id": to_global("Opportunity", opp.id), "version": opp.version, "stage_key": key,
                "lost_reason": "Chose a cheaper competitor" if key == "lost" else None,
            }))
        gid = to_global("Opportunity", opp.id)
        clock.advance(hours=6)
        if stage in ("proposal", "negotiation"):
            _ok(await tasks.create_task(ctx, {
                "opportunity_id": gid, "title": "Send pricing sheet", "assignee_id": to_global("User", users["sales"].id),
                "due_at": ctx.clock() + timedelta(days=2),
            }))
            _ok(await comments.add_comment(ctx, {
                "opportunity_id": gid, "body": "@legal please look at their redlines before the next call",
            }))
        # Badges on the board: a pending handoff and a pending approval.
        if title == "Campus-wide licence":
            _ok(await handoffs.request_handoff(ctx, {
                "opportunity_id": gid, "to_department_key": "legal", "note": "Their procurement wants our standard MSA",
                "assignee_id": to_global("User", users["legal"].id),
            }))
        if title == "Security operations platform":  # Contract's automatic handoff answered, for the turnaround figures
            clock.advance(hours=20)
            await _accept_handoffs(db, Ctx(db=db, viewer=Viewer(user=users["legal"]), clock=clock), opp, "Filed with the master agreement")
        if title == "Nationwide store rollout":  # the stage rule's flow, with its amount branch
            approval = _ok(await approvals.request_approval(ctx, {
                "opportunity_id": gid, "kind": "contract", "department_keys": [], "comment": "Three-year rollout, 400 stores",
            }))
            clock.advance(hours=5)
            _ok(await approvals.decide_approval(Ctx(db=db, viewer=Viewer(user=users["legal2"]), clock=clock), {
                "id": to_global("Approval", approval.id), "approve": True, "comment": "Standard MSA, no redlines",
            }))
        if title == "Payments gateway":
            _ok(await approvals.request_approval(ctx, {
                "opportunity_id": gid, "kind": "discount", "department_keys": ["finance"], "comment": "15% multi-year discount",
            }))
    admin = Ctx(db=db, viewer=Viewer(user=users["admin"]), clock=clock)
    for currency, rate in DEMO_RATES.items():
        _ok(await money.set_exchange_rate(admin, {"currency": currency, "rate": rate, "date": today - timedelta(days=90)}))
    await _story_is_read(db, org, clock, settings)
    return True


async def _story_is_read(db: Database, org: m.Organization, clock: StoryClock, settings) -> None:
    """The story's past stays past. Its stale deals, overdue tasks and slow handoffs raise their
    alerts now, on the story clock, so the alerts job finds nothing new a minute after start
    (it would greet every signed-in user with a pile of toasts); and everything the story sent
    is read, so each demo inbox starts at zero unread and its badge counts what happens next.
    The badges on the cards (overdue, stale, waiting) come from the deals and stay."""
    await raise_alerts(db, clock.end, settings or Settings(), org_id=org.id)
    async with db.write() as session:
        await session.execute(update(m.Notification).where(
            m.Notification.org_id == org.id, m.Notification.read_at.is_(None)).values(read_at=clock.end))


async def _contract_approval(db: Database, ctx: Ctx, users: dict, opp: m.Opportunity) -> None:
    """Ask for the contract stage (the gate opens the contract approval), then approve each open step."""
    refused = await opportunities.move_opportunity(ctx, {"id": to_global("Opportunity", opp.id), "version": opp.version, "stage_key": "contract"})
    assert refused[1], "the contract gate should have asked for an approval first"
    async with db.read() as session:
        approval = (await session.execute(
            select(m.Approval).where(m.Approval.opportunity_id == opp.id, m.Approval.kind == "contract", m.Approval.status == "PENDING")
        )).scalar_one()
    for who in ("legal", "finance", "finance.manager"):
        if approval.status != "PENDING":
            break
        ctx.clock.advance(hours=18)
        approval = _ok(await approvals.decide_approval(Ctx(db=db, viewer=Viewer(user=users[who]), clock=ctx.clock), {
            "id": to_global("Approval", approval.id), "approve": True, "comment": "Looks good",
        }))


async def _accept_handoffs(db: Database, ctx: Ctx, opp: m.Opportunity, note: str) -> None:
    async with db.read() as session:
        pending = (await session.execute(select(m.Handoff.id).where(
            m.Handoff.opportunity_id == opp.id, m.Handoff.status == "PENDING"))).scalars().all()
    for handoff_id in pending:
        _ok(await handoffs.respond_handoff(ctx, {"id": to_global("Handoff", handoff_id), "accept": True, "note": note}))


async def _reloaded(db: Database, opp: m.Opportunity) -> m.Opportunity:
    async with db.read() as session:
        return await session.get(m.Opportunity, opp.id)


def _ok(result):
    value, errors = result
    if errors:
        raise UserErrors(errors)
    return value
