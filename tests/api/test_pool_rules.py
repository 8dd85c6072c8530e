"""The shared pool's rules, asserted exactly (issue 23, mutation testing of
resolvers/pool.py): the claim limit's and the cooldown's boundaries and messages,
who may claim and see which pool, the release's refusals, the stage's pool rule, and
the automatic return's events, notifications and bookkeeping."""
import logging
from datetime import timedelta

from sqlalchemy import func, select, update

from db import models as m
from resolvers import access_rules, pool
from resolvers.ids import to_global
from tests.api.test_assignment import add_users, customer, events_of, new_deal, ok, rule, set_rules
from tests.conftest import make_org

POOL = """query($key: String) { pool(departmentKey: $key) { totalCount edges { node { title } } } }"""


def gid(opp) -> str:
    return to_global("Opportunity", opp.id)


async def refusal(result) -> list:
    value, errors = await result
    assert value is None
    return [(e.code, e.field, e.message) for e in errors]


async def release(org, opp, who="sales_member", clock=None, reason="Customer went quiet"):
    return await ok(pool.release_opportunity(org.ctx(who, clock), {"id": gid(opp), "reason": reason}))


async def row(org, opp) -> m.Opportunity:
    async with org.db.read() as s:
        return await s.get(m.Opportunity, opp.id)


async def stage_of(org, key: str) -> m.Stage:
    async with org.db.read() as s:
        return await s.scalar(select(m.Stage).where(m.Stage.key == key, m.Stage.pipeline_id.in_(
            select(m.Pipeline.id).where(m.Pipeline.org_id == org.id))))


async def titles(gql, as_, key=None) -> tuple[int, set]:
    data = (await gql.ok(POOL, {"key": key}, as_=as_))["pool"]
    return data["totalCount"], {e["node"]["title"] for e in data["edges"]}


async def test_a_claim_exactly_24_hours_old_no_longer_counts(org, clock):
    [rep] = await add_users(org, 1)
    deals = [await new_deal(org, clock=clock, title=f"Deal {i}") for i in range(2)]
    for deal in deals:
        await release(org, deal, clock=clock)
    await new_deal(org, who="rep0", clock=clock, title="Their own")  # their other events are no claims
    claimer = org.ctx("rep0", clock)
    claimer.pool_claims_per_day = 1
    before = await row(org, deals[0])
    clock.advance(minutes=5)
    claimed = await ok(pool.claim_opportunity(claimer, {"id": gid(deals[0])}))
    assert (claimed.owner_id, claimed.assigned_at, claimed.pooled_at, claimed.pool_department_id) == (rep.id, clock.now, None, None)
    assert (claimed.version, claimed.updated_at) == (before.version + 1, clock.now)
    after = await row(org, deals[0])
    assert (after.version, after.owner_id, after.pooled_at) == (before.version + 1, rep.id, None)
    [event] = await events_of(org, "OPPORTUNITY_CLAIMED")
    assert (event.opportunity_id, event.actor_id, event.department_keys, event.changes) == (
        deals[0].id, rep.id, ["sales"], {"owner": [org.users["sales_manager"].id, rep.id], "pool": ["sales", None]})

    clock.advance(hours=24, seconds=-1)
    assert await refusal(pool.claim_opportunity(claimer, {"id": gid(deals[1])})) == [
        ("LIMIT_EXCEEDED", ["id"], "You have claimed 1 deals in the last 24 hours, the most allowed")]
    clock.advance(seconds=1)  # the first claim is now exactly 24 hours old
    assert (await ok(pool.claim_opportunity(claimer, {"id": gid(deals[1])}))).owner_id == rep.id


async def test_another_users_claims_do_not_count_against_ones_limit(org, clock):
    await add_users(org, 2)
    deals = [await new_deal(org, clock=clock, title=f"Deal {i}") for i in range(2)]
    for deal in deals:
        await release(org, deal, clock=clock)
    first, second = org.ctx("rep0", clock), org.ctx("rep1", clock)
    first.pool_claims_per_day = second.pool_claims_per_day = 1
    await ok(pool.claim_opportunity(first, {"id": gid(deals[0])}))
    assert (await ok(pool.claim_opportunity(second, {"id": gid(deals[1])}))).owner_id == org.users["rep1"].id


async def test_the_cooldown_ends_exactly_after_the_latest_give_back(org, clock):
    member = org.users["sales_member"].id
    deal = await new_deal(org, clock=clock, title="Twice")
    t0 = clock.now
    await release(org, deal, clock=clock)
    clock.advance(hours=2)
    short = org.ctx("sales_member", clock)
    short.pool_reclaim_cooldown_hours = 1  # their give-back is 2 hours old: past a 1-hour cooldown
    assert (await ok(pool.claim_opportunity(short, {"id": gid(deal)}))).owner_id == member
    clock.advance(hours=1)
    await release(org, deal, clock=clock)  # given back again at t0 + 3 h
    clock.advance(hours=1)
    refused = await refusal(pool.claim_opportunity(org.ctx("sales_member", clock), {"id": gid(deal)}))
    at = t0 + timedelta(hours=75)
    assert refused == [("COOLDOWN", ["id"], f"You gave this deal back less than 72 hours ago; you can claim it again after {at}")]
    clock.now = t0 + timedelta(hours=75)  # exactly 72 hours after the latest give-back
    assert (await ok(pool.claim_opportunity(org.ctx("sales_member", clock), {"id": gid(deal)}))).owner_id == member


async def test_the_holder_has_no_cooldown_on_a_deal_someone_else_gave_back(org, clock):
    [rep] = await add_users(org, 1)
    deal = await new_deal(org, clock=clock, title="Held")
    await release(org, deal, clock=clock)
    await ok(pool.claim_opportunity(org.ctx("rep0", clock), {"id": gid(deal)}))  # the manager held it: owner [manager, rep]
    await release(org, deal, who="rep0", clock=clock)
    assert [e.type for e in await events_of(org, "OPPORTUNITY_CLAIMED")] == ["OPPORTUNITY_CLAIMED"]
    claimed = await ok(pool.claim_opportunity(org.ctx("sales_manager", clock), {"id": gid(deal)}))
    assert claimed.owner_id == org.users["sales_manager"].id


async def test_managers_and_admins_see_and_claim_every_pool_members_their_own(org, gql, clock):
    for who in ("legal_member", "legal_manager"):  # Legal full: a tagged deal given back waits in Legal's pool
        await new_deal(org, owner_id=to_global("User", org.users[who].id))
    await set_rules(org, rule("Legal", department_key="legal", strategy="CAPACITY", capacity=1, tags=["legal"]))
    legal = await new_deal(org, title="Contract", tags=["legal"], owner_id=to_global("User", org.users["sales_member"].id))
    await release(org, legal)
    assert [e.type for e in await events_of(org, "OPPORTUNITY_RELEASED")] == ["OPPORTUNITY_RELEASED"]
    assert await events_of(org, "OPPORTUNITY_POOLED") == []  # one event: the release put it in the pool
    await set_rules(org)  # no rules: a deal given back waits in its own department's pool
    sales = await new_deal(org, title="Fleet")
    await release(org, sales)
    assert (await row(org, legal)).pool_department_id != (await row(org, sales)).pool_department_id

    assert await titles(gql, "sales_admin") == (2, {"Contract", "Fleet"})
    assert await titles(gql, "sales_manager") == (2, {"Contract", "Fleet"})
    assert await titles(gql, "sales_admin", "legal") == (1, {"Contract"})
    assert await titles(gql, "sales_member") == (1, {"Fleet"})
    assert await titles(gql, "legal_member") == (1, {"Contract"})
    assert await titles(gql, "marketing_member") == (0, set())

    assert await refusal(pool.claim_opportunity(org.ctx("legal_member", clock), {"id": gid(sales)})) == [
        ("FORBIDDEN", ["id"], "Only the pool department's members, managers and admins can claim this deal")]
    assert (await ok(pool.claim_opportunity(org.ctx("sales_admin", clock), {"id": gid(legal)}))).owner_id == org.users["sales_admin"].id
    assert (await ok(pool.claim_opportunity(org.ctx("legal_manager", clock), {"id": gid(sales)}))).owner_id == org.users["legal_manager"].id
    assert await refusal(pool.claim_opportunity(org.ctx("legal_manager", clock), {"id": gid(sales)})) == [
        ("INVALID_TRANSITION", ["id"], "This deal is not in the pool")]


async def test_another_organizations_pool_is_not_listed(org, gql):
    other = await make_org(org.db)
    mine = await new_deal(org, title="Mine")
    await release(org, mine)
    theirs = await new_deal(other, title="Theirs")
    await release(other, theirs)
    assert await titles(gql, "sales_admin") == (1, {"Mine"})
    assert await titles(gql, "sales_member") == (1, {"Mine"})


PAGE = """query($first: Int, $after: String) { pool(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { title } } } }"""


async def test_the_pool_pages_newest_first(org, gql):
    for title in ("Older", "Newer"):
        await release(org, await new_deal(org, title=title))
    first = (await gql.ok(PAGE, {"first": 1}))["pool"]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"], first["pageInfo"]["hasPreviousPage"],
            [e["node"]["title"] for e in first["edges"]]) == (2, True, False, ["Newer"])
    rest = (await gql.ok(PAGE, {"first": 1, "after": first["pageInfo"]["endCursor"]}))["pool"]
    assert (rest["totalCount"], rest["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasPreviousPage"],
            [e["node"]["title"] for e in rest["edges"]]) == (2, False, True, ["Older"])


async def test_a_manager_sees_only_the_pooled_deals_their_access_rule_lets_them_see(org, gql):
    await ok(access_rules.set_access_rule(org.ctx("sales_admin"), {"role": "MANAGER", "scope": "OWN"}))
    await release(org, await new_deal(org, title="Sales deal"))
    await release(org, await new_deal(org, who="legal_member", title="Legal deal"), who="legal_member")
    assert await titles(gql, "sales_manager") == (1, {"Sales deal"})  # Legal's card is neither theirs nor their department's
    assert await titles(gql, "sales_admin") == (2, {"Sales deal", "Legal deal"})


async def test_the_release_refusals_with_their_messages(org, clock):
    deal = await new_deal(org, clock=clock, title="Fleet")
    version = (await row(org, deal)).version
    stale = {"id": gid(deal), "reason": "Quiet", "version": version - 1}
    assert await refusal(pool.release_opportunity(org.ctx("sales_member", clock), stale)) == [
        ("CONFLICT", ["version"], f"Someone else changed this opportunity (now version {version}); reload and retry")]
    assert await refusal(pool.release_opportunity(org.ctx("marketing_member", clock), {"id": gid(deal), "reason": "x"})) == [
        ("FORBIDDEN", ["id"], "Only the owner, the owner's manager or an admin can release this deal")]
    refused = await refusal(pool.release_opportunity(org.ctx("sales_member", clock), {"id": gid(deal), "reason": "x" * 501}))
    assert [(code, field) for code, field, _ in refused] == [("VALIDATION", ["reason"])]
    refused = await refusal(pool.release_opportunity(org.ctx("sales_member", clock), {"id": gid(deal)}))
    assert [(code, field) for code, field, _ in refused] == [("VALIDATION", ["reason"])]

    won = await stage_of(org, "won")
    async with org.db.write() as s:
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == deal.id).values(stage_id=won.id))
    assert await refusal(pool.release_opportunity(org.ctx("sales_member", clock), {"id": gid(deal), "reason": "x"})) == [
        ("INVALID_TRANSITION", ["id"], "Only an open deal can be released")]
    assert await events_of(org, "OPPORTUNITY_RELEASED") == []

    open_deal = await new_deal(org, clock=clock, title="Open")
    before = await row(org, open_deal)
    clock.advance(minutes=3)
    released = await ok(pool.release_opportunity(org.ctx("sales_member", clock), {
        "id": gid(open_deal), "reason": "y" * 500, "version": before.version}))
    assert (released.version, released.updated_at) == (before.version + 1, clock.now)
    assert (await row(org, open_deal)).version == before.version + 1
    [event] = await events_of(org, "OPPORTUNITY_RELEASED")
    assert (event.opportunity_id, event.changes["reason"]) == (open_deal.id, [None, "y" * 500])
    assert await refusal(pool.release_opportunity(org.ctx("sales_admin", clock), {"id": gid(open_deal), "reason": "x"})) == [
        ("INVALID_TRANSITION", ["id"], "This deal is already in the pool")]


async def test_the_owners_manager_may_release_another_departments_manager_may_not(org, clock):
    deal = await new_deal(org, clock=clock, title="Fleet")
    assert await refusal(pool.release_opportunity(org.ctx("legal_manager", clock), {"id": gid(deal), "reason": "x"})) == [
        ("FORBIDDEN", ["id"], "Only the owner, the owner's manager or an admin can release this deal")]
    released = await ok(pool.release_opportunity(org.ctx("sales_manager", clock), {"id": gid(deal), "reason": "Reorganized"}))
    assert (released.owner_id, released.pooled_at) == (org.users["sales_manager"].id, clock.now)


async def test_a_released_deal_is_matched_by_its_customers_region(org):
    east = await add_users(org, 2)
    await customer(org, "Eastco", region="East")
    await set_rules(org, rule("East", east, regions=["east"]))
    deal = await new_deal(org, account_name="Eastco", title="East deal")
    assert deal.owner_id == east[0].id
    moved = await release(org, deal, who="rep0")
    assert (moved.owner_id, moved.pooled_at) == (east[1].id, None)
    assert [e.changes for e in await events_of(org, "OPPORTUNITY_ASSIGNED")][-1] == {
        "owner": [org.users["sales_manager"].id, east[1].id], "rule": [None, "East"]}


async def test_a_release_with_nobody_to_hold_the_pool_is_refused(org, clock):
    deal = await new_deal(org, clock=clock, title="Orphan")
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id.in_([org.users["sales_manager"].id, org.users["sales_admin"].id]))
                        .values(deactivated_at=clock.now))
    assert await refusal(pool.release_opportunity(org.ctx("sales_member", clock), {"id": gid(deal), "reason": "x"})) == [
        ("INVALID_TRANSITION", None, "The pool has nobody to hold it: the department has no manager and the organization no admin")]
    assert ((await row(org, deal)).owner_id, (await row(org, deal)).pooled_at) == (org.users["sales_member"].id, None)


async def test_only_admins_set_a_stages_pool_rule_within_its_bounds(org):
    lead = await stage_of(org, "lead")
    stage_gid = to_global("Stage", lead.id)
    admin = org.ctx("sales_admin")

    def set_days(days, ctx=admin, stage=stage_gid):
        return pool.set_stage_pool_after_days(ctx, {"stage_id": stage, "days": days})

    assert await refusal(set_days(3, ctx=org.ctx("sales_manager"))) == [
        ("FORBIDDEN", None, "Only an admin can change a stage's pool rule")]
    bad = to_global("Opportunity", lead.id)
    assert await refusal(set_days(3, stage=bad)) == [("NOT_FOUND", ["stageId"], f"No Stage with id {bad!r}")]
    other = await make_org(org.db)
    theirs = to_global("Stage", (await stage_of(other, "lead")).id)
    assert await refusal(set_days(3, stage=theirs)) == [("NOT_FOUND", ["stageId"], f"No stage with id {theirs!r}")]
    for days in (0, 3651):
        assert await refusal(set_days(days)) == [("VALIDATION", ["days"], "days must be between 1 and 3650, or null for never")]
    assert await events_of(org, "PIPELINE_UPDATED") == []

    assert (await ok(set_days(1))).pool_after_days == 1
    assert (await ok(set_days(3650))).pool_after_days == 3650
    assert (await ok(set_days(3650))).pool_after_days == 3650  # unchanged: no event
    assert (await ok(set_days(None))).pool_after_days is None
    assert (await stage_of(org, "lead")).pool_after_days is None
    assert [e.changes for e in await events_of(org, "PIPELINE_UPDATED")] == [
        {"stage": [None, "lead"], "poolAfterDays": [None, 1]},
        {"stage": [None, "lead"], "poolAfterDays": [1, 3650]},
        {"stage": [None, "lead"], "poolAfterDays": [3650, None]},
    ]


async def set_pool_days(org, key: str, days: int) -> m.Stage:
    stage = await stage_of(org, key)
    await ok(pool.set_stage_pool_after_days(org.ctx("sales_admin"), {"stage_id": to_global("Stage", stage.id), "days": days}))
    return stage


async def test_the_warning_is_not_activity_and_names_its_deal(org, gql, clock):
    await set_pool_days(org, "lead", 2)
    t0 = clock.now
    deal = await new_deal(org, clock=clock, title="Quiet")
    last_activity = (await row(org, deal)).last_activity_at
    clock.now = t0 + timedelta(days=1)
    assert await pool.return_idle_deals(org.db, clock.now, org_id=org.id) == 0
    assert (await row(org, deal)).last_activity_at == last_activity
    [event] = await events_of(org, "ALERT_RAISED")
    assert (event.opportunity_id, event.actor_id, event.department_keys) == (deal.id, None, ["sales"])
    clock.now = t0  # read where the fixture's 24-hour session is still valid
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["sales_member"].id).values(locale="zh-CN"))
    [note] = (await gql.ok("{ notifications { edges { node { kind message opportunity { id } } } } }"))["notifications"]["edges"]
    assert note["node"] == {"kind": "alert", "message": "Quiet已有一段时间未跟进：若不跟进，将在 24 小时后退回公海",
                            "opportunity": {"id": gid(deal)}}
    async with org.db.read() as s:
        [seq] = (await s.execute(select(m.Notification.event_seq).where(m.Notification.opportunity_id == deal.id))).scalars()
        alerts = (await s.execute(select(m.Alert.subject, m.Alert.fingerprint, m.Alert.raised_at).where(m.Alert.org_id == org.id))).all()
    assert seq == event.seq
    assert [(subject, fingerprint, raised_at.replace(tzinfo=None)) for subject, fingerprint, raised_at in alerts] == [
        (f"pool_warning:opportunity:{deal.id}", t0.isoformat(), (t0 + timedelta(days=1)).replace(tzinfo=None))]


async def test_a_follow_up_moves_the_return_and_several_deals_return_in_one_run(org, gql, clock):
    await set_pool_days(org, "lead", 2)
    t0 = clock.now
    quiet = [await new_deal(org, clock=clock, title=f"Quiet {i}") for i in range(2)]
    followed = await new_deal(org, clock=clock, title="Followed")
    async with org.db.write() as s:  # a follow-up logged half a day later: its two days count from there
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == followed.id).values(last_contact_at=t0 + timedelta(hours=12)))

    async def run(at) -> int:
        clock.now = t0 + at
        return await pool.return_idle_deals(org.db, clock.now, org_id=org.id)

    assert await run(timedelta(days=1)) == 0
    assert sorted(e.opportunity_id for e in await events_of(org, "ALERT_RAISED")) == sorted(d.id for d in quiet)
    assert await run(timedelta(days=1, hours=12)) == 0
    assert len(await events_of(org, "ALERT_RAISED")) == 3
    assert await run(timedelta(days=2)) == 2
    assert sorted(e.opportunity_id for e in await events_of(org, "OPPORTUNITY_POOLED")) == sorted(d.id for d in quiet)
    assert (await row(org, followed)).pooled_at is None
    assert await run(timedelta(days=2, hours=12)) == 1
    assert (await row(org, followed)).pooled_at == clock.now

    # Given back by the rule, the deal is its last owner's to re-claim only after the cooldown.
    assert await refusal(pool.claim_opportunity(org.ctx("sales_member", clock), {"id": gid(followed)})) == [
        ("COOLDOWN", ["id"], f"You gave this deal back less than 72 hours ago; you can claim it again after {clock.now + timedelta(hours=72)}")]
    # The notification is in its reader's language (read with the clock back where the session is valid).
    clock.now = t0
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["sales_member"].id).values(locale="zh-CN"))
    notes = (await gql.ok("{ notifications(first: 20) { edges { node { message opportunity { id } } } } }"))["notifications"]["edges"]
    assert {"message": "Followed在Lead阶段 2 天未跟进，已退回公海", "opportunity": {"id": gid(followed)}} in [n["node"] for n in notes]


async def test_closed_and_pooled_deals_are_not_warned(org, clock):
    await set_pool_days(org, "lead", 1)
    await set_pool_days(org, "won", 1)
    t0 = clock.now
    won = await new_deal(org, clock=clock, title="Won")
    async with org.db.write() as s:
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == won.id).values(stage_id=(await stage_of(org, "won")).id))
    pooled = await new_deal(org, clock=clock, title="Pooled")
    await release(org, pooled, clock=clock)
    ruleless = await new_deal(org, clock=clock, title="No pool rule")  # proposal has no pool_after_days
    async with org.db.write() as s:
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == ruleless.id).values(stage_id=(await stage_of(org, "proposal")).id))
    clock.now = t0 + timedelta(days=5)
    assert await pool.return_idle_deals(org.db, clock.now, org_id=org.id) == 0
    assert await events_of(org, "ALERT_RAISED") == []
    async with org.db.read() as s:
        assert list((await s.execute(select(m.Alert.subject).where(m.Alert.org_id == org.id))).scalars()) == []


async def test_another_organizations_idle_deals_are_left_to_its_own_run(org, clock):
    other = await make_org(org.db)
    await set_pool_days(other, "lead", 1)
    t0 = clock.now
    await new_deal(other, clock=clock, title="Theirs")
    assert await pool.return_idle_deals(org.db, t0 + timedelta(days=1), org_id=org.id) == 0
    assert await events_of(other, "ALERT_RAISED") == []
    assert await pool.return_idle_deals(org.db, t0 + timedelta(days=1), org_id=other.id) == 0
    assert len(await events_of(other, "ALERT_RAISED")) == 1


async def test_the_job_without_an_organization_visits_every_one(org, clock):
    # The alerts job calls return_idle_deals without org_id: every organization in the
    # database, each deal in its own organization's log. The database is shared with the
    # other tests, so the count is checked against the returns this run logged.
    other = await make_org(org.db)
    for each in (org, other):
        await set_pool_days(each, "lead", 1)
    t0 = clock.now
    ours, theirs = await new_deal(org, clock=clock, title="Ours"), await new_deal(other, clock=clock, title="Theirs")
    await pool.return_idle_deals(org.db, t0)
    for each, deal in ((org, ours), (other, theirs)):
        assert [(e.opportunity_id, e.actor_id, e.changes["alert"]) for e in await events_of(each, "ALERT_RAISED")] == [
            (deal.id, None, "pool_warning")]
    async with org.db.read() as s:
        last = await s.scalar(select(func.max(m.Event.id)))
    returned = await pool.return_idle_deals(org.db, t0 + timedelta(days=1))
    for each, deal in ((org, ours), (other, theirs)):
        assert [(e.opportunity_id, e.actor_id) for e in await events_of(each, "OPPORTUNITY_POOLED")] == [(deal.id, None)]
        assert (await row(each, deal)).pooled_at == t0 + timedelta(days=1)
    async with org.db.read() as s:
        logged = await s.scalar(select(func.count()).select_from(m.Event).where(
            m.Event.id > last, m.Event.type == "OPPORTUNITY_POOLED"))
    assert returned == logged >= 2


async def test_the_run_publishes_what_it_commits(org, clock):
    await set_pool_days(org, "lead", 1)
    t0 = clock.now
    await new_deal(org, clock=clock, title="Quiet")
    published = []

    async def publish(org_id, message):
        published.append((org_id, message["seq"]))

    assert await pool.return_idle_deals(org.db, t0 + timedelta(days=1), publish=publish, org_id=org.id) == 0
    [event] = await events_of(org, "ALERT_RAISED")
    assert published == [(org.id, [event.seq])]


async def test_a_refused_return_is_logged_and_the_others_still_return(org, clock, caplog):
    await set_pool_days(org, "lead", 1)
    t0 = clock.now
    orphan = await new_deal(org, clock=clock, title="Orphan")
    legal = await new_deal(org, who="legal_member", clock=clock, title="Legal")
    assert await pool.return_idle_deals(org.db, t0, org_id=org.id) == 0  # both warned
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id.in_([org.users["sales_manager"].id, org.users["sales_admin"].id]))
                        .values(deactivated_at=t0))
    with caplog.at_level(logging.WARNING, logger="baton.pool"):
        assert await pool.return_idle_deals(org.db, t0 + timedelta(days=1), org_id=org.id) == 1
    assert [e.opportunity_id for e in await events_of(org, "OPPORTUNITY_POOLED")] == [legal.id]
    assert (await row(org, orphan)).pooled_at is None
    assert [r.getMessage() for r in caplog.records if r.name == "baton.pool"] == [
        f"pool return of deal {orphan.id} refused: The pool has nobody to hold it: "
        "the department has no manager and the organization no admin"]


async def test_a_return_found_twice_is_done_once(org, clock, monkeypatch, caplog):
    await set_pool_days(org, "lead", 1)
    t0 = clock.now
    deal = await new_deal(org, clock=clock, title="Quiet")
    due = await pool._due(org.db, org.id, t0)
    assert due == [("warning", deal.id, t0.isoformat())]

    async def stale(db, org_id, now):  # another process found the same warning and did it first
        return due

    assert await pool.return_idle_deals(org.db, t0, org_id=org.id) == 0
    monkeypatch.setattr(pool, "_due", stale)
    with caplog.at_level(logging.INFO, logger="baton.pool"):
        assert await pool.return_idle_deals(org.db, t0, org_id=org.id) == 0
    assert len(await events_of(org, "ALERT_RAISED")) == 1
    assert [r.getMessage() for r in caplog.records if r.name == "baton.pool"] == [
        f"pool warning of deal {deal.id} already done by another process"]


async def test_a_deal_changed_after_it_was_found_is_left_alone(org, clock, monkeypatch):
    await set_pool_days(org, "lead", 1)
    t0 = clock.now
    deal = await new_deal(org, clock=clock, title="Quiet")
    assert await pool.return_idle_deals(org.db, t0, org_id=org.id) == 0  # warned
    found = await pool._due(org.db, org.id, t0 + timedelta(days=1))
    assert found == [("return", deal.id, t0.isoformat())]
    await release(org, deal, clock=clock)  # given back by hand meanwhile

    async def stale(db, org_id, now):
        return found

    monkeypatch.setattr(pool, "_due", stale)
    await pool.return_idle_deals(org.db, t0 + timedelta(days=1), org_id=org.id)
    assert await events_of(org, "OPPORTUNITY_POOLED") == []
    assert len(await events_of(org, "OPPORTUNITY_RELEASED")) == 1
