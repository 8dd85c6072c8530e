"""The demo organization: seeded once, through the same rules the API uses."""
from datetime import date, timedelta

from sqlalchemy import select, update

from api.demo_texts import DEMO_ACCOUNTS, ENGLISH, TEXTS, DemoTexts
from api.settings import Settings
from db import models as m
from db.engine import Database
from db.files import LocalFileStore
from db.types import utcnow
from resolvers import approvals, attachments, comments, handoffs, money, opportunities, records, stage_work, tasks
from resolvers.alerts import raise_alerts
from resolvers.auth import hash_password
from resolvers.context import Ctx, Viewer
from resolvers.errors import UserErrors
from resolvers.ids import to_global
from resolvers.setup import DEFAULT_STAGES, create_organization, create_user

DEMO_ORG = ENGLISH.org_name
DEMO_PASSWORD = "baton-demo"
# (email, name, department, role) of the English demo; every language signs in with the same emails.
DEMO_USERS = [(email, ENGLISH.names[email], dept, role) for email, dept, role in DEMO_ACCOUNTS]
# The last call on each open deal from the proposal on (those stages alert after 48 hours
# without a follow-up): the demo starts with its customers in touch, one call overdue.
FOLLOW_UP_SUMMARY = {"en": "Call with the customer: they are reviewing the proposal internally",
                     "zh-CN": "与客户通话：对方正在内部评审方案"}
# Where the demo's leads came from (线索来源), in turn: assignment rules and the filter can match on them.
SOURCES = {"en": ["Trade show", "Website", "Referral", "Ads"], "zh-CN": ["展会", "官网", "转介绍", "广告"]}
PROBABILITY = {"lead": 10, "qualified": 25, "proposal": 40, "negotiation": 60, "contract": 80, "won": 100, "lost": 0}


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


async def seed_demo(db: Database, settings=None, locale: str = "en") -> bool:
    """Create the demo organization in `locale`'s language (api/demo_texts.py) unless a
    demo exists (its sign-ins are the same in every language). Returns True when it seeded."""
    texts: DemoTexts = TEXTS[locale]
    async with db.write() as session:
        names = [t.org_name for t in TEXTS.values()]
        if (await session.execute(select(m.Organization).where(m.Organization.name.in_(names)))).first():
            return False
        org = await create_organization(session, texts.org_name, locale=texts.locale)
        await _localize(session, org, texts)
        users = {}
        # Every demo account has the same published password: hash it once (argon2 is slow
        # on purpose, and every demo start and every browser test's server seeds these).
        shared_hash = hash_password(DEMO_PASSWORD)
        for email, dept, role in DEMO_ACCOUNTS:
            user = await create_user(session, org, email=email, name=texts.names[email], department_key=dept, role=role)
            user.password_hash = shared_hash
            users[email.split("@")[0]] = user
    clock = StoryClock()
    settings = settings or Settings(database_url=db.url)
    ctx = Ctx(db=db, viewer=Viewer(user=users["sales"]), clock=clock, files=LocalFileStore(settings.files_path))
    say = texts.lines
    stage_order = [key for key, *_ in DEFAULT_STAGES]
    today = date.today()
    in_touch = []  # open deals from the proposal on
    sources = SOURCES.get(texts.locale, SOURCES["en"])
    for n, deal in enumerate(texts.deals):
        stage = deal.stage
        clock.start_deal(days_ago=60 - 4 * n)
        opp = _ok(await opportunities.create_opportunity(ctx, {
            "title": deal.title, "account_name": deal.account, "amount": deal.amount, "priority": deal.priority,
            "tags": deal.tags, "currency": deal.currency,
            "expected_close_date": today + timedelta(days=deal.days_to_close) if deal.days_to_close is not None else None,
            "probability": PROBABILITY[stage],
            "source": sources[n % len(sources)],
        }))
        # Walk the card through the stages so its history reads like a real deal's.
        path = stage_order[1:stage_order.index(stage) + 1] if stage != "lost" else ["qualified", "proposal", stage]
        for step, key in enumerate(path):
            clock.advance(hours=20 + 26 * ((n + step) % 4))
            if key == "proposal":  # Proposal needs the quote (resolvers/setup.py)
                await _attach_quote(ctx, opp, deal.title)
            if key == "contract":
                await _contract_approval(db, ctx, users, opp, say["approved"])
            if key == "won":  # legal takes the contract's automatic handoff; then Contract's deliverables
                await _accept_handoffs(db, Ctx(db=db, viewer=Viewer(user=users["legal"]), clock=clock), opp, say["reviewing"])
                for item, who in (("legal-review", "legal"), ("payment-terms", "finance")):
                    _ok(await stage_work.check_deliverable(Ctx(db=db, viewer=Viewer(user=users[who]), clock=clock), {
                        "opportunity_id": to_global("Opportunity", opp.id), "stage_key": "contract", "key": item, "done": True}))
                opp = await _reloaded(db, opp)
            opp = _ok(await opportunities.move_opportunity(ctx, {
                "id": to_global("Opportunity", opp.id), "version": opp.version, "stage_key": key,
                "lost_reason": say["lost_reason"] if key == "lost" else None,
            }))
        gid = to_global("Opportunity", opp.id)
        if stage == "qualified":  # its quote is drafted: the board moves it on with amount and date alone
            await _attach_quote(ctx, opp, deal.title)
        if stage in ("proposal", "negotiation", "contract"):
            in_touch.append(gid)
        clock.advance(hours=6)
        if stage in ("proposal", "negotiation"):
            _ok(await tasks.create_task(ctx, {
                "opportunity_id": gid, "title": say["task"], "assignee_id": to_global("User", users["sales"].id),
                "due_at": ctx.clock() + timedelta(days=2),
            }))
            _ok(await comments.add_comment(ctx, {"opportunity_id": gid, "body": say["comment"]}))
        # Badges on the board: a pending handoff and a pending approval.
        if deal.role == "handoff":
            _ok(await handoffs.request_handoff(ctx, {
                "opportunity_id": gid, "to_department_key": "legal", "note": say["handoff_note"],
                "assignee_id": to_global("User", users["legal"].id),
            }))
        if deal.role == "signed":  # Contract's automatic handoff answered, for the turnaround figures
            clock.advance(hours=20)
            await _accept_handoffs(db, Ctx(db=db, viewer=Viewer(user=users["legal"]), clock=clock), opp, say["filed"])
        if deal.role == "rollout":  # the stage rule's flow, with its amount branch
            approval = _ok(await approvals.request_approval(ctx, {
                "opportunity_id": gid, "kind": "contract", "department_keys": [], "comment": say["rollout_request"],
            }))
            clock.advance(hours=5)
            _ok(await approvals.decide_approval(Ctx(db=db, viewer=Viewer(user=users["legal2"]), clock=clock), {
                "id": to_global("Approval", approval.id), "approve": True, "comment": say["rollout_approved"],
            }))
        if deal.role == "discount":
            _ok(await approvals.request_approval(ctx, {
                "opportunity_id": gid, "kind": "discount", "department_keys": ["finance"], "comment": say["discount_request"],
            }))
    await _last_calls(ctx, clock, in_touch, FOLLOW_UP_SUMMARY.get(texts.locale, FOLLOW_UP_SUMMARY["en"]))
    admin = Ctx(db=db, viewer=Viewer(user=users["admin"]), clock=clock)
    for currency, rate in texts.rates.items():
        _ok(await money.set_exchange_rate(admin, {"currency": currency, "rate": rate, "date": today - timedelta(days=90)}))
    await _story_is_read(db, org, clock, settings)
    return True


async def _last_calls(ctx: Ctx, clock: StoryClock, gids: list[str], summary: str) -> None:
    """A call on each deal within the last day, the next planned two days on; the first
    deal's was planned for six hours ago, so its follow-up is due."""
    clock.now = clock.end  # logged at the end of the story, so the log's times stay in order
    for n, gid in enumerate(gids):
        at = clock.end - timedelta(hours=30 if n == 0 else 2 + 3 * n)
        _ok(await records.log_follow_up(ctx, {
            "opportunity_id": gid, "kind": "CALL", "at": at, "summary": summary,
            "next_follow_up_at": at + timedelta(hours=24 if n == 0 else 48),
        }))


async def _localize(session, org: m.Organization, texts: DemoTexts) -> None:
    """The organization's language, time zone and base currency (create_organization names
    its departments and stages in the language)."""
    org.locale, org.time_zone, org.base_currency = texts.locale, texts.time_zone, texts.base_currency
    await session.flush()


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


async def _contract_approval(db: Database, ctx: Ctx, users: dict, opp: m.Opportunity, comment: str) -> None:
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
            "id": to_global("Approval", approval.id), "approve": True, "comment": comment,
        }))


async def _accept_handoffs(db: Database, ctx: Ctx, opp: m.Opportunity, note: str) -> None:
    async with db.read() as session:
        pending = (await session.execute(select(m.Handoff.id).where(
            m.Handoff.opportunity_id == opp.id, m.Handoff.status == "PENDING"))).scalars().all()
    for handoff_id in pending:
        _ok(await handoffs.respond_handoff(ctx, {"id": to_global("Handoff", handoff_id), "accept": True, "note": note}))


def quote_pdf(title: str) -> bytes:
    """A one-page PDF naming the deal, to stand for its quote."""
    text = title.encode("ascii", "replace").replace(b"(", b"[").replace(b")", b"]").replace(b"\\", b"/")
    stream = b"BT /F1 18 Tf 72 720 Td (Quote: " + text + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


async def _attach_quote(ctx: Ctx, opp: m.Opportunity, title: str) -> None:
    _ok(await attachments.attach_file(ctx, {
        "opportunity_id": to_global("Opportunity", opp.id), "kind": "quote", "name": f"{title} quote.pdf",
        "content": quote_pdf(title),
    }))


async def _reloaded(db: Database, opp: m.Opportunity) -> m.Opportunity:
    async with db.read() as session:
        return await session.get(m.Opportunity, opp.id)


def _ok(result):
    value, errors = result
    if errors:
        raise UserErrors(errors)
    return value
