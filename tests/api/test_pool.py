"""The shared pool (公海): visibility, claims with their daily limit and cooldown, releases
(re-assigned by rules), the automatic return with its warning, and the fairness report."""
from datetime import timedelta

from sqlalchemy import select, update

from db import models as m
from resolvers import access_rules, opportunities, pool
from resolvers.ids import to_global
from tests.api.test_assignment import add_users, events_of, new_deal, ok, rule, set_rules

CARD = """query($id: ID!) { node(id: $id) { ... on Opportunity { title inPool poolDepartment { key } owner { handle } } } }"""
POOL = """query($key: String) { pool(departmentKey: $key) { totalCount edges { node { title inPool } } } }"""


def gid(opp) -> str:
    return to_global("Opportunity", opp.id)


async def codes(result) -> list:
    _, errors = await result
    return [(e.code, e.field) for e in errors]


async def release(org, opp, who="sales_member", clock=None, reason="Customer went quiet"):
    return await ok(pool.release_opportunity(org.ctx(who, clock), {"id": gid(opp), "reason": reason}))


async def test_a_pooled_deal_is_visible_to_its_pool_departments_members(org, gql):
    for who in ("legal_member", "legal_manager"):  # Legal is full: the released deal waits in its pool
        await new_deal(org, owner_id=to_global("User", org.users[who].id))
    await set_rules(org, rule("Legal", department_key="legal", strategy="CAPACITY", capacity=1, tags=["legal"]))
    await ok(access_rules.set_access_rule(org.ctx("sales_admin"), {"role": "MEMBER", "scope": "OWN"}))
    deal = await new_deal(org, title="Contract review", tags=["legal"], owner_id=to_global("User", org.users["sales_member"].id))
    await release(org, deal)
    [event] = await events_of(org, "OPPORTUNITY_RELEASED")
    assert event.changes == {"owner": [org.users["sales_member"].id, org.users["legal_manager"].id], "pool": [None, "legal"],
                             "reason": [None, "Customer went quiet"]}
    # legal_member sees only their own cards (OWN) and what waits in Legal's pool.
    assert (await gql.ok(CARD, {"id": gid(deal)}, as_="legal_member"))["node"] == {
        "title": "Contract review", "inPool": True, "poolDepartment": {"key": "legal"}, "owner": {"handle": "legal_manager"}}
    assert (await gql.ok(POOL, as_="legal_member"))["pool"] == {"totalCount": 1, "edges": [{"node": {"title": "Contract review", "inPool": True}}]}
    assert (await gql.ok(CARD, {"id": gid(deal)}, as_="marketing_member"))["node"] is None
    assert (await gql.ok(POOL, as_="marketing_member"))["pool"]["totalCount"] == 0
    assert (await gql.ok(POOL, {"key": "legal"}, as_="sales_member"))["pool"]["totalCount"] == 0  # members: their own pool only
    assert (await gql.ok(POOL, {"key": "legal"}, as_="sales_manager"))["pool"]["totalCount"] == 1
    assert (await gql.ok(POOL, {"key": "sales"}, as_="sales_manager"))["pool"]["totalCount"] == 0


async def test_claims_have_a_daily_limit_and_a_cooldown_for_what_one_gave_back(org, clock):
    [rep] = await add_users(org, 1)
    deals = [await new_deal(org, clock=clock, title=f"Deal {i}") for i in range(4)]
    for deal in deals:
        await release(org, deal, clock=clock)
    manager = org.users["sales_manager"].id
    claimer = org.ctx("rep0", clock)
    claimer.pool_claims_per_day = 2
    for deal in deals[:2]:
        claimed = await ok(pool.claim_opportunity(claimer, {"id": gid(deal)}))
        assert (claimed.owner_id, claimed.pooled_at, claimed.pool_department_id) == (rep.id, None, None)
    assert await codes(pool.claim_opportunity(claimer, {"id": gid(deals[2])})) == [("LIMIT_EXCEEDED", ["id"])]
    assert [e.changes for e in await events_of(org, "OPPORTUNITY_CLAIMED")] == [
        {"owner": [manager, rep.id], "pool": ["sales", None]}] * 2

    member = org.ctx("sales_member", clock)
    assert await codes(pool.claim_opportunity(member, {"id": gid(deals[3])})) == [("COOLDOWN", ["id"])]
    clock.advance(hours=24, seconds=1)
    await ok(pool.claim_opportunity(claimer, {"id": gid(deals[2])}))
    assert await codes(pool.claim_opportunity(member, {"id": gid(deals[3])})) == [("COOLDOWN", ["id"])]
    clock.advance(hours=48)
    assert (await ok(pool.claim_opportunity(member, {"id": gid(deals[3])}))).owner_id == org.users["sales_member"].id

    # Refusals: not pooled, another department's pool, no reason, not the owner, already pooled.
    assert await codes(pool.claim_opportunity(member, {"id": gid(deals[3])})) == [("INVALID_TRANSITION", ["id"])]
    await release(org, deals[3], clock=clock)
    assert await codes(pool.claim_opportunity(org.ctx("marketing_member", clock), {"id": gid(deals[3])})) == [("FORBIDDEN", ["id"])]
    assert await codes(pool.release_opportunity(org.ctx("rep0", clock), {"id": gid(deals[0]), "reason": " "})) == [("VALIDATION", ["reason"])]
    assert await codes(pool.release_opportunity(org.ctx("marketing_member", clock), {"id": gid(deals[0]), "reason": "x"})) == [("FORBIDDEN", ["id"])]
    assert await codes(pool.release_opportunity(org.ctx("sales_admin", clock), {"id": gid(deals[3]), "reason": "x"})) == [
        ("INVALID_TRANSITION", ["id"])]


async def test_a_released_deal_goes_to_the_next_by_the_first_matching_rule(org):
    reps = await add_users(org, 2)
    await set_rules(org, rule("Inbound", reps))
    deal = await new_deal(org)  # rep0
    moved = await release(org, deal, who="rep0")
    assert (moved.owner_id, moved.pooled_at) == (reps[1].id, None)
    manager = org.users["sales_manager"].id
    assert [(e.type, e.changes) for e in (await events_of(org, "OPPORTUNITY_RELEASED")) + (await events_of(org, "OPPORTUNITY_ASSIGNED"))] == [
        ("OPPORTUNITY_RELEASED", {"owner": [reps[0].id, manager], "pool": [None, "sales"], "reason": [None, "Customer went quiet"]}),
        ("OPPORTUNITY_ASSIGNED", {"owner": [None, reps[0].id], "rule": [None, "Inbound"]}),
        ("OPPORTUNITY_ASSIGNED", {"owner": [manager, reps[1].id], "rule": [None, "Inbound"]}),
    ]
    # Its releaser is never the one it goes back to: with nobody else it waits in the pool.
    await set_rules(org, rule("Solo", [reps[1]]))
    again = await release(org, moved, who="rep1")
    assert (again.owner_id, again.pooled_at is not None) == (manager, True)


async def test_an_idle_deal_is_warned_then_returned_once(org, gql, clock):
    stage = (await gql.ok("{ pipelines { stages { id key } } }", as_="sales_admin"))["pipelines"][0]["stages"][0]
    set_days = """mutation($input: SetStagePoolAfterDaysInput!) { setStagePoolAfterDays(input: $input) {
      stage { key poolAfterDays } userErrors { code field } } }"""
    refused = await gql.ok(set_days, {"input": {"stageId": stage["id"], "days": 0}}, as_="sales_admin")
    assert refused["setStagePoolAfterDays"]["userErrors"] == [{"code": "VALIDATION", "field": ["days"]}]
    done = await gql.ok(set_days, {"input": {"stageId": stage["id"], "days": 3}}, as_="sales_admin")
    assert done["setStagePoolAfterDays"] == {"stage": {"key": "lead", "poolAfterDays": 3}, "userErrors": []}

    t0 = clock.now
    deal = await new_deal(org, clock=clock, title="Quiet deal")
    member, manager = org.users["sales_member"].id, org.users["sales_manager"].id

    async def run(at) -> int:
        clock.now = t0 + at
        return await pool.return_idle_deals(org.db, clock.now, org_id=org.id)

    async def inbox(user_id):
        async with org.db.read() as s:
            return list((await s.execute(select(m.Notification.kind, m.Notification.message).where(
                m.Notification.user_id == user_id, m.Notification.opportunity_id == deal.id).order_by(m.Notification.id))).all())

    assert await run(timedelta(days=2, hours=-1)) == 0
    assert await events_of(org, "ALERT_RAISED") == []
    assert await run(timedelta(days=2)) == 0
    warning = "Quiet deal has had no follow-up for a while: it returns to the pool in 24 hours unless it is followed up"
    assert [e.changes for e in await events_of(org, "ALERT_RAISED")] == [{"alert": "pool_warning", "message": warning}]
    assert await inbox(member) == [("alert", warning)]
    assert await run(timedelta(days=2, hours=12)) == 0
    assert len(await events_of(org, "ALERT_RAISED")) == 1

    assert await run(timedelta(days=3)) == 1
    [event] = await events_of(org, "OPPORTUNITY_POOLED")
    assert event.changes == {"owner": [member, manager], "pool": [None, "sales"], "reason": [None, "NO_FOLLOW_UP"]}
    assert event.actor_id is None
    assert await inbox(member) == [("alert", warning), ("alert", "Quiet deal had no follow-up for 3 days in Lead and returned to the pool")]
    assert await run(timedelta(days=3, hours=1)) == 0
    assert len(await events_of(org, "OPPORTUNITY_POOLED")) == 1

    # Claimed, its new owner has the whole period again.
    await add_users(org, 1)
    await ok(pool.claim_opportunity(org.ctx("rep0", clock), {"id": gid(deal)}))
    assert await run(timedelta(days=4, hours=23)) == 0
    assert len(await events_of(org, "ALERT_RAISED")) == 1
    assert await run(timedelta(days=5, hours=1)) == 0
    assert len(await events_of(org, "ALERT_RAISED")) == 2


REPORT = """query($from: DateTime!, $to: DateTime!) { assignmentReport(from: $from, to: $to) {
  owners { user { handle } offered claimed won lost openLoad }
  rules { ruleName offered claimed won lost maxOpenLoad minOpenLoad spread people { user { handle } offered claimed won lost openLoad } } } }"""


async def test_the_assignment_report_against_a_hand_computed_fixture(org, gql, clock):
    async with org.db.write() as s:  # no gates in the way of winning and losing
        await s.execute(update(m.Stage).where(m.Stage.pipeline_id.in_(select(m.Pipeline.id).where(m.Pipeline.org_id == org.id)))
                        .values(required_fields=[], required_approvals=[], auto_approval=None, owner=None, deliverables=[]))
    u1, u2 = await add_users(org, 2)
    await set_rules(org, rule("Team", [u1, u2], tags=["team"]))
    t0 = clock.now
    d1, d2, d3 = [await new_deal(org, clock=clock, title=f"D{i}", tags=["team"]) for i in (1, 2, 3)]
    assert [d.owner_id for d in (d1, d2, d3)] == [u1.id, u2.id, u1.id]

    async def move(deal, stage, **extra):
        async with org.db.read() as s:
            version = (await s.get(m.Opportunity, deal.id)).version
        await ok(opportunities.move_opportunity(org.ctx("rep0", clock), {"id": gid(deal), "version": version, "stage_key": stage, **extra}))

    clock.advance(hours=1)
    await move(d1, "won")  # u1 wins D1
    await release(org, d2, who="rep1", clock=clock)  # u2 gives D2 back; the rule gives it to u1
    await move(d3, "lost", lost_reason="Budget")  # u1 loses D3
    d4 = await new_deal(org, clock=clock, title="D4")  # no tag: the pool
    await ok(pool.claim_opportunity(org.ctx("rep1", clock), {"id": gid(d4)}))  # u2 claims D4

    iso = lambda t: t.isoformat()  # noqa: E731
    report = (await gql.ok(REPORT, {"from": iso(t0 - timedelta(hours=1)), "to": iso(clock.now + timedelta(hours=1))},
                           as_="sales_manager"))["assignmentReport"]
    one = {"user": {"handle": u1.handle}, "offered": 3, "claimed": 0, "won": 1, "lost": 1, "openLoad": 1}
    two = {"user": {"handle": u2.handle}, "offered": 1, "claimed": 1, "won": 0, "lost": 0, "openLoad": 1}
    assert report["owners"] == [one, two]
    assert report["rules"] == [{
        "ruleName": "Team", "offered": 4, "claimed": 0, "won": 1, "lost": 1, "maxOpenLoad": 1, "minOpenLoad": 1, "spread": 0,
        "people": [one, {**two, "claimed": 0}],  # D4's claim is no rule's: no rule had assigned it
    }]

    # Before the period: nothing happened, the loads are today's.
    earlier = (await gql.ok(REPORT, {"from": iso(t0 - timedelta(days=2)), "to": iso(t0 - timedelta(days=1))},
                            as_="sales_admin"))["assignmentReport"]
    zero = {"offered": 0, "claimed": 0, "won": 0, "lost": 0, "openLoad": 1}
    assert earlier["owners"] == [{"user": {"handle": u1.handle}, **zero}, {"user": {"handle": u2.handle}, **zero}]
    assert earlier["rules"][0]["offered"] == 0 and earlier["rules"][0]["spread"] == 0

    refused = await gql(REPORT, {"from": iso(t0), "to": iso(clock.now)}, as_="sales_member")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
