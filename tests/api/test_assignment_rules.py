"""Assignment rules pinned down exactly (issue 23, mutation testing of resolvers/assignment.py):
every refusal of setAssignmentRules with its code, field path and message, the bounds of
names, values, amounts, targets and capacities, the configuration log, what `matches`
compares (trimmed and case-blind, amounts in the base currency by the newest rate on or
before today), whom round-robin and capacity pick, the pool fallback and its holder, and
the events an assignment leaves (SQLite and PostgreSQL)."""
from datetime import timedelta
from decimal import Decimal

import pytest

from sqlalchemy import select, update

from db import models as m
from resolvers import assignment, pool
from resolvers.assignment import list_assignment_rules, set_assignment_rules
from resolvers.ids import to_global
from resolvers.tokens import Forbidden
from resolvers.visibility import ensure_access
from tests.api.test_assignment import add_users, customer, events_of, new_deal, ok, rule, set_rules
from tests.conftest import make_org

SALES = {"department_key": "sales"}


async def refusal(org, *rules, who="sales_admin") -> list[tuple]:
    saved, errors = await set_assignment_rules(org.ctx(who), {"rules": list(rules)})
    assert saved is None
    return [(e.code, e.field, e.message) for e in errors]


def good(name="R", **extra) -> dict:
    return {"name": name, "strategy": "ROUND_ROBIN", **SALES, **extra}


async def saved_rules(org) -> list[m.AssignmentRule]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.AssignmentRule).where(m.AssignmentRule.org_id == org.id)
                                     .order_by(m.AssignmentRule.position))).scalars())


async def deactivate(org, *users) -> None:
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id.in_([u.id for u in users]))
                        .values(deactivated_at=org.ctx("sales_admin").clock()))


async def listed(org, who: str) -> list[str]:
    ctx = org.ctx(who)
    await ensure_access(ctx)
    return [r.name for r in await list_assignment_rules(ctx)]


async def department_id(org, key: str) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(m.Department.id).where(m.Department.org_id == org.id, m.Department.key == key))


# ---------------------------------------------------------------- setAssignmentRules


async def test_only_admins_set_rules_and_only_admins_and_managers_read_them(org):
    assert await refusal(org, good(), who="sales_manager") == [
        ("FORBIDDEN", None, "Only an admin can set assignment rules")]
    await set_rules(org, good("First"), good("Second"))
    assert await listed(org, "sales_manager") == ["First", "Second"]
    assert await listed(org, "sales_admin") == ["First", "Second"]
    with pytest.raises(Forbidden, match="^Only admins and managers can see assignment rules$"):
        await listed(org, "sales_member")


async def test_names_are_trimmed_required_unique_and_at_most_100_characters(org):
    assert await refusal(org, good("  "), good(None), good("x" * 101), good(" Same "), good("SAME")) == [
        ("VALIDATION", ["rules", "0", "name"], "A rule needs a name"),
        ("VALIDATION", ["rules", "1", "name"], "A rule needs a name"),
        ("VALIDATION", ["rules", "2", "name"], "A rule's name has at most 100 characters"),
        ("DUPLICATE", ["rules", "4", "name"], "Another rule is named 'SAME'"),
    ]
    await set_rules(org, good("  Inbound  "), good("y" * 100))
    assert [r.name for r in await saved_rules(org)] == ["Inbound", "y" * 100]


@pytest.mark.parametrize("field", ["regions", "industries", "tags", "sources"])
async def test_match_values_are_trimmed_deduplicated_and_bounded(org, field):
    assert await refusal(org, good("Blank", **{field: ["ok", "  ", ""]}), good("Long", **{field: ["v" * 101]}),
                         good("Many", **{field: [f"v{i}" for i in range(51)]}), good("Null", **{field: [None]})) == [
        ("VALIDATION", ["rules", "0", field], "Each value must have 1 to 100 characters"),
        ("VALIDATION", ["rules", "1", field], "Each value must have 1 to 100 characters"),
        ("VALIDATION", ["rules", "2", field], "At most 50 values"),
        ("VALIDATION", ["rules", "3", field], "Each value must have 1 to 100 characters"),
    ]
    fifty = [f"v{i}" for i in range(50)]
    await set_rules(org, good("Clean", **{field: [" East ", "EAST", "v" * 100, "west"]}),
                    good("Fifty", **{field: fifty + ["V0"]}), good("None", **{field: None}))
    clean, full, none = await saved_rules(org)
    assert clean.match[field] == ["East", "v" * 100, "west"]
    assert full.match[field] == fifty
    assert none.match == {"regions": [], "industries": [], "tags": [], "sources": [], "amountMin": None, "amountMax": None}


async def test_amounts_are_bounded_ordered_and_kept_to_the_cent(org):
    assert await refusal(
        org,
        good("Negative", amount_min=Decimal("-0.01")),
        good("Huge", amount_max=Decimal("1e16")),
        good("Reversed", amount_min=Decimal("100"), amount_max=Decimal("99.99")),
        good("Bad min", amount_min=Decimal("-1"), amount_max=Decimal("5")),
    ) == [
        ("VALIDATION", ["rules", "0", "amountMin"], "The amount must be between 0 and 1E+16"),
        ("VALIDATION", ["rules", "1", "amountMax"], "The amount must be between 0 and 1E+16"),
        ("VALIDATION", ["rules", "2", "amountMax"], "amountMax must not be below amountMin"),
        ("VALIDATION", ["rules", "3", "amountMin"], "The amount must be between 0 and 1E+16"),
    ]
    await set_rules(org, good("Zero", amount_min=Decimal("0"), amount_max=Decimal("9999999999999999.99")),
                    good("Equal", amount_min=Decimal("12.3"), amount_max=Decimal("12.30")),
                    good("Max only", amount_max=Decimal("7")))
    assert [(r.match["amountMin"], r.match["amountMax"]) for r in await saved_rules(org)] == [
        ("0.00", "9999999999999999.99"), ("12.30", "12.30"), (None, "7.00")]


async def test_a_rule_names_one_active_target_of_the_organization(org):
    other = await make_org(org.db)
    async with org.db.write() as s:
        s.add(m.Department(org_id=org.id, key="old", name="Old", archived_at=org.ctx("sales_admin").clock()))
        s.add(m.Department(org_id=other.id, key="emea", name="EMEA"))
    gone, = await add_users(org, 1)
    await deactivate(org, gone)
    member = to_global("User", org.users["sales_member"].id)
    foreign = to_global("User", other.users["sales_member"].id)
    plain = {"name": "T", "strategy": "ROUND_ROBIN"}
    assert await refusal(
        org,
        {**plain, "name": "Neither"},
        {**plain, "name": "Empty", "user_ids": [], "department_key": ""},
        {**plain, "name": "Both", "department_key": "sales", "user_ids": [member]},
        {**plain, "name": "Archived", "department_key": "old"},
        {**plain, "name": "Elsewhere", "department_key": "emea"},
        {**plain, "name": "Many", "user_ids": [member] * 51},
        {**plain, "name": "Garbage", "user_ids": [member, "nope"]},
        {**plain, "name": "Account", "user_ids": [to_global("Account", 1)]},
        {**plain, "name": "Foreign", "user_ids": [foreign]},
        {**plain, "name": "Gone", "user_ids": [to_global("User", gone.id)]},
    ) == [
        ("VALIDATION", ["rules", "0", "departmentKey"], "Name either a departmentKey or userIds to assign to"),
        ("VALIDATION", ["rules", "1", "departmentKey"], "Name either a departmentKey or userIds to assign to"),
        ("VALIDATION", ["rules", "2", "departmentKey"], "Name either a departmentKey or userIds to assign to"),
        ("VALIDATION", ["rules", "3", "departmentKey"], "Unknown department 'old'"),
        ("VALIDATION", ["rules", "4", "departmentKey"], "Unknown department 'emea'"),
        ("VALIDATION", ["rules", "5", "userIds"], "At most 50 values"),
        ("VALIDATION", ["rules", "6", "userIds"], "No active user with id 'nope'"),
        ("VALIDATION", ["rules", "7", "userIds"], f"No active user with id '{to_global('Account', 1)}'"),
        ("VALIDATION", ["rules", "8", "userIds"], f"No active user with id '{foreign}'"),
        ("VALIDATION", ["rules", "9", "userIds"], f"No active user with id '{to_global('User', gone.id)}'"),
    ]
    manager = to_global("User", org.users["sales_manager"].id)
    await set_rules(org, {**plain, "name": "Fifty", "user_ids": [manager] + [member] * 49},
                    {**plain, "name": "Dept", "department_key": "marketing"})
    fifty, dept = await saved_rules(org)
    assert (fifty.target, dept.target) == (
        {"userIds": [org.users["sales_manager"].id, org.users["sales_member"].id]}, {"departmentKey": "marketing"})


async def test_user_ids_are_served_in_the_order_given(gql, org):
    a, b = await add_users(org, 2)
    await set_rules(org, rule("Pair", [b, a, b]), rule("Team", department_key="sales"))
    listed = await gql.ok("{ assignmentRules { userIds users { handle } departmentKey } }", as_="sales_admin")
    assert listed["assignmentRules"] == [{"userIds": [to_global("User", b.id), to_global("User", a.id)],
                                          "users": [{"handle": b.handle}, {"handle": a.handle}], "departmentKey": None},
                                         {"userIds": [], "users": [], "departmentKey": "sales"}]


async def test_strategy_and_capacity_are_checked(org):
    assert await refusal(
        org,
        good("Random", strategy="RANDOM"),
        good("Zero", capacity=0),
        good("Too many", capacity=100_001),
        good("Uncapped", strategy="CAPACITY"),
        good("Zero cap", strategy="CAPACITY", capacity=0),
    ) == [
        ("VALIDATION", ["rules", "0", "strategy"], "strategy must be one of ROUND_ROBIN, CAPACITY"),
        ("VALIDATION", ["rules", "1", "capacity"], "capacity must be between 1 and 100000"),
        ("VALIDATION", ["rules", "2", "capacity"], "capacity must be between 1 and 100000"),
        ("VALIDATION", ["rules", "3", "capacity"], "A CAPACITY rule needs a capacity"),
        ("VALIDATION", ["rules", "4", "capacity"], "capacity must be between 1 and 100000"),
    ]
    await set_rules(org, good("One", strategy="CAPACITY", capacity=1), good("Most", capacity=100_000), good("Open"))
    assert [(r.strategy, r.capacity) for r in await saved_rules(org)] == [("CAPACITY", 1), ("ROUND_ROBIN", 100_000),
                                                                          ("ROUND_ROBIN", None)]


async def test_at_most_50_rules(org):
    assert await refusal(org, *[good(f"R{i}") for i in range(50)], good("")) == [
        ("VALIDATION", ["rules"], "At most 50 rules")]  # the rules themselves are not checked then
    await set_rules(org, *[good(f"R{i}") for i in range(50)])
    assert [(r.position, r.name) for r in await saved_rules(org)] == [(i, f"R{i}") for i in range(50)]


async def test_replacing_rules_is_logged_keeps_cursors_by_name_and_touches_no_other_organization(org):
    other = await make_org(org.db)
    await ok(set_assignment_rules(other.ctx("sales_admin"), {"rules": [good("Theirs")]}))
    reps = await add_users(org, 3)
    await set_rules(org, rule("Inbound", reps))
    await new_deal(org)
    await new_deal(org)
    await set_rules(org, rule("Web", reps, tags=["web"]), rule("INBOUND", reps, strategy="CAPACITY", capacity=5))
    web, inbound = await saved_rules(org)
    assert (web.position, web.rr_cursor, inbound.position, inbound.rr_cursor) == (0, 0, 1, 2)
    assert inbound.updated_at is not None
    ids = [r.id for r in reps]
    first, second = await events_of(org, "CONFIGURATION_CHANGED")
    empty = {"regions": [], "industries": [], "tags": [], "sources": [], "amountMin": None, "amountMax": None}
    assert first.changes == {
        "subject": [None, "assignmentRules"], "target": [None, None], "action": [None, "updated"],
        "rules": [[], [{"name": "Inbound", "match": empty, "target": {"userIds": ids}, "strategy": "ROUND_ROBIN", "capacity": None}]]}
    assert second.changes["rules"] == [
        [{"name": "Inbound", "match": empty, "target": {"userIds": ids}, "strategy": "ROUND_ROBIN", "capacity": None}],
        [{"name": "Web", "match": {**empty, "tags": ["web"]}, "target": {"userIds": ids}, "strategy": "ROUND_ROBIN", "capacity": None},
         {"name": "INBOUND", "match": empty, "target": {"userIds": ids}, "strategy": "CAPACITY", "capacity": 5}]]
    assert (await new_deal(org)).owner_id == reps[2].id  # the capacity rule goes on from its place: a tie of 1s, rep2 next
    assert [r.name for r in await saved_rules(other)] == ["Theirs"]
    assert await listed(other, "sales_admin") == ["Theirs"]


# ---------------------------------------------------------------- matching


async def test_regions_industries_and_tags_match_trimmed_and_case_blind(org):
    a, b, c = await add_users(org, 3)
    await customer(org, "Spaced", region="  EAST ", industry=" retail  ")
    await customer(org, "Bare")
    await set_rules(org, rule("East retail", [a], regions=["east"], industries=["Retail"]),
                    rule("Tagged", [b], tags=["Vip", "Gold"]), rule("Rest", [c]))
    cases = [({"account_name": "Spaced"}, a), ({"account_name": "Bare", "tags": ["gold"]}, b),
             ({"account_name": "Bare", "tags": ["other"]}, c), ({"account_name": "Bare"}, c),
             ({"account_name": "Spaced", "tags": ["VIP"]}, a)]
    assert [(await new_deal(org, **fields)).owner_id for fields, _ in cases] == [who.id for _, who in cases]


async def test_a_region_rule_needs_the_region_and_an_industry_rule_the_industry(org):
    a, b, c = await add_users(org, 3)
    await customer(org, "Eastern", region="East")
    await customer(org, "Retailer", industry="Retail")
    await customer(org, "Plain", region="West", industry="Energy")
    await set_rules(org, rule("Region", [b], regions=["East"]), rule("Industry", [a], industries=["Retail"]), rule("Rest", [c]))
    assert [(await new_deal(org, account_name=name)).owner_id for name in ("Eastern", "Retailer", "Plain")] == [b.id, a.id, c.id]


async def test_amount_bounds_are_inclusive_and_need_an_amount(org):
    a, b, c = await add_users(org, 3)
    await set_rules(org, rule("Band", [a], amount_min=Decimal("100"), amount_max=Decimal("200")),
                    rule("Small", [b], amount_max=Decimal("50")), rule("Rest", [c]))
    amounts = [Decimal("100"), Decimal("200"), Decimal("99.99"), Decimal("200.01"), None, Decimal("50"), Decimal("0")]
    owners = [(await new_deal(org, **({"amount": x} if x is not None else {}))).owner_id for x in amounts]
    assert owners == [a.id, a.id, c.id, c.id, c.id, b.id, b.id]


async def test_amounts_compare_in_the_base_currency_by_the_newest_rate_up_to_today(org):
    big, rest = await add_users(org, 2)
    other = await make_org(org.db)
    today = org.ctx("sales_admin").clock().date()
    async with org.db.write() as s:
        for base, currency, days, rate, org_id in (
            ("USD", "EUR", -10, "1", org.id), ("USD", "EUR", 0, "2", org.id), ("USD", "EUR", 1, "0.1", org.id),
            ("USD", "GBP", -5, "2", org.id), ("CHF", "GBP", -1, "0.1", org.id), ("USD", "GBP", -1, "0.1", other.id),
        ):
            s.add(m.ExchangeRate(org_id=org_id, base_currency=base, currency=currency, rate=Decimal(rate),
                                 day=today + timedelta(days=days)))
    await set_rules(org, rule("Big", [big], amount_min=Decimal("1000")), rule("Rest", [rest]))
    cases = [(Decimal("600"), "EUR", big), (Decimal("499.99"), "EUR", rest), (Decimal("600"), "GBP", big),
             (Decimal("1000"), "USD", big), (Decimal("999.99"), "USD", rest)]
    assert [(await new_deal(org, amount=x, currency=cur)).owner_id for x, cur, _ in cases] == [who.id for *_, who in cases]


async def test_the_organizations_own_base_currency_counts(org):
    big, rest = await add_users(org, 2)
    async with org.db.write() as s:
        await s.execute(update(m.Organization).where(m.Organization.id == org.id).values(base_currency="EUR"))
    await set_rules(org, rule("Big", [big], amount_min=Decimal("1000")), rule("Rest", [rest]))
    assert (await new_deal(org, amount=Decimal("1000"), currency="EUR")).owner_id == big.id  # no rate needed


async def test_another_organizations_rules_never_apply(org):
    other = await make_org(org.db)
    theirs, = await add_users(other, 1)
    await ok(set_assignment_rules(other.ctx("sales_admin"), {"rules": [rule("Theirs", [theirs])]}))
    deal = await new_deal(org)
    assert (deal.owner_id, deal.pooled_at) == (org.users["sales_member"].id, None)
    assert await events_of(org, "OPPORTUNITY_ASSIGNED") == []


# ---------------------------------------------------------------- picking an owner


async def test_a_department_rule_takes_its_active_members_and_managers_by_id(org):
    other = await make_org(org.db)  # its sales people must never be offered
    rep, gone = await add_users(org, 2)
    await deactivate(org, gone)
    await set_rules(org, rule("Sales", department_key="sales"))
    turn = [org.users["sales_manager"].id, org.users["sales_member"].id, rep.id]
    assert [(await new_deal(org)).owner_id for _ in range(4)] == turn + turn[:1]
    assert other.users["sales_member"].id not in turn


async def test_round_robin_with_a_capacity_skips_the_full_and_pools_when_all_are_full(org, clock):
    reps = await add_users(org, 3)
    await new_deal(org, owner_id=to_global("User", reps[0].id))
    await set_rules(org, rule("Capped turn", reps, capacity=1))
    deals = [await new_deal(org, clock=clock, title=f"D{i}") for i in range(3)]
    assert [d.owner_id for d in deals[:2]] == [reps[1].id, reps[2].id]
    assert [d.assigned_at for d in deals[:2]] == [clock.now, clock.now]
    manager = org.users["sales_manager"]
    assert (deals[2].owner_id, deals[2].pooled_at, deals[2].pool_department_id) == (
        manager.id, clock.now, await department_id(org, "sales"))
    [assigned, _] = await events_of(org, "OPPORTUNITY_ASSIGNED")
    assert (assigned.department_keys, assigned.opportunity_id) == (["sales"], deals[0].id)
    [pooled] = await events_of(org, "OPPORTUNITY_POOLED")
    assert (pooled.changes, pooled.department_keys) == (
        {"owner": [None, manager.id], "pool": [None, "sales"], "reason": [None, "AT_CAPACITY"]}, ["sales"])


async def test_capacity_counts_only_open_deals_outside_the_pool(org):
    a, b = await add_users(org, 2)
    won, pooled = await new_deal(org, owner_id=to_global("User", a.id)), await new_deal(org, owner_id=to_global("User", a.id))
    async with org.db.write() as s:
        won_stage = await s.scalar(select(m.Stage.id).where(m.Stage.pipeline_id == won.pipeline_id, m.Stage.kind == "WON"))
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == won.id).values(stage_id=won_stage))
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == pooled.id).values(pooled_at=org.ctx("sales_admin").clock()))
    await set_rules(org, rule("Least loaded", [a, b], strategy="CAPACITY", capacity=1))
    owners = [(await new_deal(org)).owner_id for _ in range(3)]
    assert owners == [a.id, b.id, org.users["sales_manager"].id]


async def test_capacity_prefers_the_least_loaded_before_the_next_in_turn(org):
    a, b, c = await add_users(org, 3)
    for who, n in ((a, 0), (b, 2), (c, 1)):
        for _ in range(n):
            await new_deal(org, owner_id=to_global("User", who.id))
    await set_rules(org, rule("Least", [a, b, c], strategy="CAPACITY", capacity=10))
    # loads 0/2/1: a; 1/2/1: c (after a in turn); 1/2/2: a; 2/2/2: b (after a in turn)
    assert [(await new_deal(org)).owner_id for _ in range(4)] == [a.id, c.id, a.id, b.id]


async def test_a_rule_nobody_can_take_sends_the_deal_to_its_departments_pool(org):
    finance = org.users["finance_member"]
    await set_rules(org, rule("Finance", department_key="finance"))
    await deactivate(org, finance)
    deal = await new_deal(org)  # a sales member's deal: the pool of the rule's department, finance
    admin = org.users["sales_admin"]
    finance_id = await department_id(org, "finance")
    assert (deal.owner_id, deal.department_id, deal.pool_department_id) == (admin.id, finance_id, finance_id)
    [event] = await events_of(org, "OPPORTUNITY_POOLED")
    assert event.changes == {"owner": [None, admin.id], "pool": [None, "finance"], "reason": [None, "AT_CAPACITY"]}
    assert sorted(event.department_keys) == ["finance"]
    assert await events_of(org, "OPPORTUNITY_ASSIGNED") == []


async def test_a_named_group_nobody_can_take_pools_in_the_deals_department_with_its_manager(org):
    gone, = await add_users(org, 1)
    await set_rules(org, rule("Group", [gone]))
    await deactivate(org, gone)
    deal = await new_deal(org, who="legal_member")
    manager = org.users["legal_manager"]
    legal = await department_id(org, "legal")
    assert (deal.owner_id, deal.department_id, deal.pool_department_id) == (manager.id, legal, legal)
    [event] = await events_of(org, "OPPORTUNITY_POOLED")
    assert event.changes == {"owner": [None, manager.id], "pool": [None, "legal"], "reason": [None, "AT_CAPACITY"]}


async def test_the_pool_holder_is_the_first_active_manager_else_the_first_active_admin(org):
    second_manager, = await add_users(org, 1, department="legal", role="MANAGER")
    second_admin, = await add_users(org, 1, department="product", role="ADMIN")
    await set_rules(org, rule("Nothing matches", [org.users["sales_member"]], regions=["Nowhere"]))
    assert (await new_deal(org, who="legal_member")).owner_id == org.users["legal_manager"].id
    await deactivate(org, org.users["legal_manager"])
    assert (await new_deal(org, who="legal_member")).owner_id == second_manager.id
    assert (await new_deal(org, who="marketing_member")).owner_id == org.users["sales_admin"].id
    await deactivate(org, org.users["sales_admin"])
    assert (await new_deal(org, who="marketing_member")).owner_id == second_admin.id
    await deactivate(org, second_admin)
    deal, errors = await new_deal_result(org, "marketing_member")
    assert deal is None
    assert [(e.code, e.field, e.message) for e in errors] == [
        ("VALIDATION", None, "The pool has nobody to hold it: the department has no manager and the organization no admin")]


async def new_deal_result(org, who):
    from resolvers import opportunities
    return await opportunities.create_opportunity(org.ctx(who), {"title": "Deal", "account_name": "Nobody's"})


async def test_a_released_deal_goes_to_the_next_in_turn_but_never_back_to_its_owner(org):
    a, b = await add_users(org, 2)
    await set_rules(org, rule("Pair", [a, b]))
    first = await new_deal(org)
    await new_deal(org)
    # The cursor is back at a: a releases, and the deal goes to b, out of the pool.
    released = await ok(pool.release_opportunity(org.ctx("sales_admin"), {"id": to_global("Opportunity", first.id), "reason": "busy"}))
    assert (released.owner_id, released.pooled_at, released.pool_department_id) == (b.id, None, None)
    manager = org.users["sales_manager"].id
    [event] = await events_of(org, "OPPORTUNITY_RELEASED")
    assert event.changes == {"owner": [a.id, manager], "pool": [None, "sales"], "reason": [None, "busy"]}
    assert [e.changes for e in await events_of(org, "OPPORTUNITY_ASSIGNED")][-1] == {"owner": [manager, b.id], "rule": [None, "Pair"]}


async def test_a_released_deal_of_a_rules_only_person_stays_in_the_pool(org):
    a, = await add_users(org, 1)
    await set_rules(org, rule("Solo", [a]))
    deal = await new_deal(org)
    released = await ok(pool.release_opportunity(org.ctx("sales_admin"), {"id": to_global("Opportunity", deal.id), "reason": "busy"}))
    manager = org.users["sales_manager"].id
    assert (released.owner_id, released.pool_department_id) == (manager, await department_id(org, "sales"))
    assert released.pooled_at is not None
    assert len(await events_of(org, "OPPORTUNITY_ASSIGNED")) == 1


async def test_an_import_with_assign_puts_pooled_rows_in_the_rules_department(org):
    from resolvers.spreadsheets import import_opportunities

    reps = await add_users(org, 1, department="marketing")
    await set_rules(org, rule("Web", reps, tags=["web"]), rule("Finance", department_key="finance", tags=["fin"]))
    await deactivate(org, org.users["finance_member"])
    csv = b"title,account,tags\nA,Acme,web\nB,Beta,fin\n"
    report = await import_opportunities(org.ctx("sales_admin"), csv, "deals.csv", default_owner=None, assign=True)
    assert (report.created, report.rejected) == (2, [])
    async with org.db.read() as s:
        rows = {t: (o, d, p) for t, o, d, p in (await s.execute(select(
            m.Opportunity.title, m.Opportunity.owner_id, m.Opportunity.department_id, m.Opportunity.pool_department_id)
            .where(m.Opportunity.org_id == org.id))).all()}
    finance = await department_id(org, "finance")
    assert rows == {"A": (reps[0].id, await department_id(org, "marketing"), None),
                    "B": (org.users["sales_admin"].id, finance, finance)}


async def insert_rules(org, *rows) -> None:
    """Rule rows written straight to the table, in the order given (not that of their positions)."""
    async with org.db.write() as s:
        for position, name, target in rows:
            s.add(m.AssignmentRule(org_id=org.id, position=position, name=name, strategy="ROUND_ROBIN", target=target,
                                   match={"regions": [], "industries": [], "tags": [], "sources": [],
                                          "amountMin": None, "amountMax": None}))
            await s.flush()


async def test_rules_are_read_and_tried_by_position_not_by_row_order(org):
    a, b = await add_users(org, 2)
    await insert_rules(org, (1, "Second", {"userIds": [b.id]}), (0, "First", {"userIds": [a.id]}))
    assert await listed(org, "sales_admin") == ["First", "Second"]
    assert (await new_deal(org)).owner_id == a.id
    await set_rules(org, rule("Only", [b]))
    [event] = await events_of(org, "CONFIGURATION_CHANGED")
    assert [r["name"] for r in event.changes["rules"][0]] == ["First", "Second"]


async def test_the_list_stops_at_50_rules(org):
    await insert_rules(org, *[(i, f"R{i}", {"departmentKey": "sales"}) for i in reversed(range(51))])
    assert await listed(org, "sales_admin") == [f"R{i}" for i in range(50)]


async def test_an_import_with_assign_matches_on_the_rows_customer(org):
    from resolvers.spreadsheets import import_opportunities

    east, rest = await add_users(org, 2)
    await customer(org, "Eastco", region="East", industry="Retail")
    await set_rules(org, rule("East retail", [east], regions=["East"], industries=["retail"]), rule("Rest", [rest]))
    report = await import_opportunities(org.ctx("sales_admin"), b"title,account\nA,Eastco\nB,Westco\n", "deals.csv",
                                        default_owner=None, assign=True)
    assert (report.created, report.rejected) == (2, [])
    async with org.db.read() as s:
        owners = dict((await s.execute(select(m.Opportunity.title, m.Opportunity.owner_id).where(m.Opportunity.org_id == org.id))).all())
    assert owners == {"A": east.id, "B": rest.id}


async def test_the_cursor_wraps_so_a_smaller_group_starts_at_its_first(org):
    reps = await add_users(org, 3)
    await set_rules(org, rule("Three", reps))
    assert [(await new_deal(org)).owner_id for _ in range(3)] == [r.id for r in reps]
    assert [r.rr_cursor for r in await saved_rules(org)] == [0]
    await deactivate(org, reps[0])
    assert [(await new_deal(org)).owner_id for _ in range(3)] == [reps[1].id, reps[2].id, reps[1].id]


async def test_the_assigned_owner_is_notified_with_the_deal_and_the_event(org, clock):
    rep, = await add_users(org, 1)
    await ok(set_assignment_rules(org.ctx("sales_admin", clock), {"rules": [rule("Inbound", [rep])]}))
    [saved] = await saved_rules(org)
    assert saved.updated_at.replace(tzinfo=None) == clock.now.replace(tzinfo=None)
    deal = await new_deal(org, clock=clock, title="Pilot")
    [event] = await events_of(org, "OPPORTUNITY_ASSIGNED")
    async with org.db.read() as s:
        notes = list((await s.execute(select(m.Notification).where(m.Notification.user_id == rep.id))).scalars())
    assert [(n.kind, n.message, n.template, n.params, n.opportunity_id, n.event_seq) for n in notes] == [
        ("assigned", "Pilot was assigned to you by the rule Inbound", "{opp} was assigned to you by the rule {rule}",
         {"opp": "Pilot", "rule": "Inbound"}, deal.id, event.seq)]
    assert (event.opportunity_id, event.actor_id, event.department_keys) == (deal.id, org.users["sales_member"].id, ["sales"])


async def test_a_released_deal_nobody_can_take_goes_to_the_rules_departments_pool(org):
    deal = await new_deal(org)  # before any rule: the sales member owns it
    await set_rules(org, rule("Finance", department_key="finance"))
    await deactivate(org, org.users["finance_member"])
    released = await ok(pool.release_opportunity(org.ctx("sales_member"), {"id": to_global("Opportunity", deal.id), "reason": "busy"}))
    admin, finance = org.users["sales_admin"].id, await department_id(org, "finance")
    assert (released.owner_id, released.department_id, released.pool_department_id) == (
        admin, await department_id(org, "sales"), finance)
    [event] = await events_of(org, "OPPORTUNITY_RELEASED")
    assert event.changes == {"owner": [org.users["sales_member"].id, admin], "pool": [None, "finance"], "reason": [None, "busy"]}
    assert sorted(event.department_keys) == ["finance", "sales"]


def test_a_rule_naming_values_matches_no_deal_without_one():
    """A customer without a region (or industry), or a deal without a source, matches no
    rule that names some, whatever they are called."""
    for key in ("regions", "industries", "sources"):
        assert not assignment.matches({key: ["XXXX"]}, m.Account(name="No facts Ltd"), None, [], None), key
    assert assignment.matches({}, m.Account(name="No facts Ltd"), None, [], None)
