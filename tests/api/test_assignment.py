"""Assignment rules: validation with field paths, first matching rule, round-robin and
capacity (also under 16 concurrent creations), events, and no rules = today's behaviour."""
import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update

from db import models as m
from resolvers import opportunities
from resolvers.accounts import account_key
from resolvers.assignment import set_assignment_rules
from resolvers.ids import to_global
from resolvers.setup import create_user

SET_RULES = """mutation($input: SetAssignmentRulesInput!) { setAssignmentRules(input: $input) {
  assignmentRules { position name strategy capacity regions industries tags amountMin amountMax departmentKey users { handle } }
  userErrors { code field message } } }"""


async def ok(result):
    value, errors = await result
    assert errors == [], errors
    return value


async def add_users(org, n: int, department: str = "sales", role: str = "MEMBER") -> list[m.User]:
    tag = uuid.uuid4().hex[:6]
    async with org.db.write() as s:
        org_row = await s.get(m.Organization, org.id)
        users = [await create_user(s, org_row, email=f"rep{i}.{tag}@example.test", name=f"Rep {i}",
                                   department_key=department, role=role, handle=f"rep{i}_{tag}")
                 for i in range(n)]
    for i, user in enumerate(users):
        org.users[f"rep{i}"] = user
    return users


def rule(name: str, users=None, department_key=None, strategy="ROUND_ROBIN", **extra) -> dict:
    data = {"name": name, "strategy": strategy, **extra}
    if users is not None:
        data["user_ids"] = [to_global("User", u.id) for u in users]
    if department_key is not None:
        data["department_key"] = department_key
    return data


async def set_rules(org, *rules):
    return await ok(set_assignment_rules(org.ctx("sales_admin"), {"rules": list(rules)}))


async def new_deal(org, who="sales_member", clock=None, **fields) -> m.Opportunity:
    data = {"title": "Deal", "account_name": f"Customer {uuid.uuid4().hex[:8]}", **fields}
    return await ok(opportunities.create_opportunity(org.ctx(who, clock), data))


async def customer(org, name: str, region=None, industry=None) -> None:
    async with org.db.write() as s:
        s.add(m.Account(org_id=org.id, name=name, normalized_name=account_key(name), region=region, industry=industry,
                        tags=[], version=1))


async def events_of(org, type_: str) -> list[m.Event]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.Event).where(m.Event.org_id == org.id, m.Event.type == type_)
                                     .order_by(m.Event.seq))).scalars())


async def test_rule_validation_reports_every_problem_with_its_path(gql, org):
    good = {"name": "East", "strategy": "ROUND_ROBIN", "departmentKey": "sales", "regions": ["East"]}
    bad = [
        good,
        {"name": "  ", "strategy": "ROUND_ROBIN"},
        {"name": "east", "strategy": "CAPACITY", "departmentKey": "nope", "amountMin": "500", "amountMax": "100"},
        {"name": "Both", "strategy": "ROUND_ROBIN", "departmentKey": "sales", "userIds": [to_global("User", org.users["sales_member"].id)],
         "capacity": 0},
    ]
    result = (await gql.ok(SET_RULES, {"input": {"rules": bad}}, as_="sales_admin"))["setAssignmentRules"]
    assert result["assignmentRules"] == []
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [
        ("VALIDATION", ["rules", "1", "name"]),
        ("VALIDATION", ["rules", "1", "departmentKey"]),
        ("DUPLICATE", ["rules", "2", "name"]),
        ("VALIDATION", ["rules", "2", "amountMax"]),
        ("VALIDATION", ["rules", "2", "departmentKey"]),
        ("VALIDATION", ["rules", "2", "capacity"]),
        ("VALIDATION", ["rules", "3", "departmentKey"]),
        ("VALIDATION", ["rules", "3", "capacity"]),
    ]
    assert await events_of(org, "CONFIGURATION_CHANGED") == []
    refused = (await gql.ok(SET_RULES, {"input": {"rules": [good]}}, as_="sales_manager"))["setAssignmentRules"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("FORBIDDEN", None)]

    saved = (await gql.ok(SET_RULES, {"input": {"rules": [good, {**good, "name": "Big", "regions": [], "amountMin": "1000",
                                                                  "strategy": "CAPACITY", "capacity": 3}]}},
                          as_="sales_admin"))["setAssignmentRules"]
    assert saved["userErrors"] == []
    assert saved["assignmentRules"] == [
        {"position": 0, "name": "East", "strategy": "ROUND_ROBIN", "capacity": None, "regions": ["East"], "industries": [],
         "tags": [], "amountMin": None, "amountMax": None, "departmentKey": "sales", "users": []},
        {"position": 1, "name": "Big", "strategy": "CAPACITY", "capacity": 3, "regions": [], "industries": [],
         "tags": [], "amountMin": "1000.00", "amountMax": None, "departmentKey": "sales", "users": []},
    ]
    read = await gql("{ assignmentRules { name } }", as_="sales_member")
    assert read["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.ok("{ assignmentRules { name } }", as_="sales_manager"))["assignmentRules"] == [{"name": "East"}, {"name": "Big"}]


async def test_without_rules_the_creator_owns_a_new_deal(org):
    deal = await new_deal(org)
    assert (deal.owner_id, deal.pooled_at) == (org.users["sales_member"].id, None)
    assert await events_of(org, "OPPORTUNITY_ASSIGNED") == []
    assert await events_of(org, "OPPORTUNITY_POOLED") == []


async def test_the_first_matching_rule_decides(org):
    a, b, c, d = await add_users(org, 4)
    await customer(org, "Eastco", region="East", industry="Retail")
    await customer(org, "Westco", region="West", industry="Energy")
    async with org.db.write() as s:  # 1 EUR = 1.10 USD (the base currency) from yesterday
        s.add(m.ExchangeRate(org_id=org.id, base_currency="USD", currency="EUR", rate=Decimal("1.1"),
                             day=(org.ctx("sales_admin").clock() - timedelta(days=1)).date()))
    await set_rules(
        org,
        rule("East retail", [a], regions=["east"], industries=["Retail"]),
        rule("VIP", [b], tags=["vip"]),
        rule("Large", [c], amount_min=Decimal("1000")),
        rule("Energy", [d], industries=["energy"]),
    )
    cases = [
        ({"account_name": "Eastco", "tags": ["vip"]}, a, "East retail"),  # the first of two matching rules
        ({"account_name": "Westco", "tags": ["VIP"]}, b, "VIP"),
        ({"account_name": "Westco", "amount": Decimal("950"), "currency": "EUR"}, c, "Large"),  # 1045 USD
        ({"account_name": "Westco", "amount": Decimal("900"), "currency": "EUR"}, d, "Energy"),  # 990 USD
        ({"account_name": "Westco", "amount": Decimal("5000"), "currency": "GBP"}, d, "Energy"),  # no rate: no amount match
    ]
    for fields, owner, _ in cases:
        deal = await new_deal(org, **fields)
        assert (deal.owner_id, deal.department_id) == (owner.id, owner.department_id)
    assert [e.changes for e in await events_of(org, "OPPORTUNITY_ASSIGNED")] == [
        {"owner": [None, owner.id], "rule": [None, name]} for _, owner, name in cases
    ]
    explicit = await new_deal(org, account_name="Eastco", owner_id=to_global("User", b.id))
    assert explicit.owner_id == b.id  # an owner given is never overridden
    assert len(await events_of(org, "OPPORTUNITY_ASSIGNED")) == len(cases)


async def test_round_robin_gives_each_in_turn_and_notifies_them(org, gql):
    reps = await add_users(org, 3)
    await set_rules(org, rule("Inbound", reps))
    owners = [(await new_deal(org, title=f"Deal {i}")).owner_id for i in range(7)]
    assert owners == [reps[i % 3].id for i in range(7)]
    assigned = await events_of(org, "OPPORTUNITY_ASSIGNED")
    assert [e.changes for e in assigned] == [{"owner": [None, reps[i % 3].id], "rule": [None, "Inbound"]} for i in range(7)]
    assert [e.actor_id for e in assigned] == [org.users["sales_member"].id] * 7
    async with org.db.read() as s:
        notes = list((await s.execute(select(m.Notification.kind, m.Notification.message).where(
            m.Notification.user_id == reps[0].id).order_by(m.Notification.id))).all())
    assert notes == [("assigned", "Deal 0 was assigned to you by the rule Inbound"),
                     ("assigned", "Deal 3 was assigned to you by the rule Inbound"),
                     ("assigned", "Deal 6 was assigned to you by the rule Inbound")]


async def test_capacity_takes_the_least_loaded_and_pools_when_everyone_is_full(org, gql):
    reps = await add_users(org, 3)
    for who, n in ((reps[0], 2), (reps[1], 1)):
        for _ in range(n):
            await new_deal(org, owner_id=to_global("User", who.id))
    await set_rules(org, rule("Capped", reps, strategy="CAPACITY", capacity=2))
    owners = [(await new_deal(org)).owner_id for _ in range(3)]
    # rep2 (0 open), then rep1 and rep2 tie at 1: rep1 is next in turn; then rep2 (1 open, rep1 full).
    assert owners == [reps[2].id, reps[1].id, reps[2].id]
    pooled = await new_deal(org, title="Overflow")
    manager = org.users["sales_manager"]
    assert (pooled.owner_id, pooled.pool_department_id is not None, pooled.pooled_at is not None) == (manager.id, True, True)
    [event] = await events_of(org, "OPPORTUNITY_POOLED")
    assert event.changes == {"owner": [None, manager.id], "pool": [None, "sales"], "reason": [None, "AT_CAPACITY"]}
    card = (await gql.ok("""query($id: ID!) { node(id: $id) { ... on Opportunity { inPool poolDepartment { key } owner { handle } } } }""",
                         {"id": to_global("Opportunity", pooled.id)}, as_="sales_member"))["node"]
    assert card == {"inPool": True, "poolDepartment": {"key": "sales"}, "owner": {"handle": "sales_manager"}}


async def test_no_matching_rule_sends_the_deal_to_its_departments_pool(org):
    reps = await add_users(org, 1)
    await set_rules(org, rule("West only", reps, regions=["West"]))
    deal = await new_deal(org, who="marketing_member")
    assert deal.pooled_at is not None
    [event] = await events_of(org, "OPPORTUNITY_POOLED")
    # Marketing has no manager: an admin holds it.
    assert event.changes == {"owner": [None, org.users["sales_admin"].id], "pool": [None, "marketing"], "reason": [None, "NO_MATCH"]}


async def owner_counts(org, ids) -> Counter:
    async with org.db.read() as s:
        return Counter((await s.execute(select(m.Opportunity.owner_id).where(m.Opportunity.id.in_(ids)))).scalars())


async def test_sixteen_concurrent_creations_share_slots_and_respect_capacity(org):
    reps = await add_users(org, 3)
    await set_rules(org, rule("Inbound", reps))
    deals = await asyncio.gather(*(new_deal(org, title=f"RR {i}") for i in range(16)))
    assert await owner_counts(org, [d.id for d in deals]) == {reps[0].id: 6, reps[1].id: 5, reps[2].id: 5}
    assigned = await events_of(org, "OPPORTUNITY_ASSIGNED")
    # In commit order the owners go strictly round: no slot was taken twice.
    assert [e.changes["owner"][1] for e in assigned] == [reps[i % 3].id for i in range(16)]

    # Those 16 deals leave the capacity rule room for 2, 3 and 3 more.
    await set_rules(org, rule("Capped", reps, strategy="CAPACITY", capacity=8))
    more = await asyncio.gather(*(new_deal(org, title=f"Cap {i}") for i in range(16)))
    counts = await owner_counts(org, [d.id for d in more])
    assert counts == {reps[0].id: 2, reps[1].id: 3, reps[2].id: 3, org.users["sales_manager"].id: 8}
    assert len(await events_of(org, "OPPORTUNITY_POOLED")) == 8
    async with org.db.read() as s:
        loads = Counter((await s.execute(select(m.Opportunity.owner_id).where(
            m.Opportunity.org_id == org.id, m.Opportunity.pooled_at.is_(None)))).scalars())
    assert {pk: loads[pk] for pk in (r.id for r in reps)} == {r.id: 8 for r in reps}


async def test_rules_keep_their_round_robin_place_when_replaced(org):
    reps = await add_users(org, 3)
    await set_rules(org, rule("Inbound", reps))
    await new_deal(org)
    await set_rules(org, rule("Other", reps, tags=["x"]), rule("Inbound", reps))
    assert (await new_deal(org)).owner_id == reps[1].id
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == reps[2].id).values(deactivated_at=org.ctx("sales_admin").clock()))
    assert [(await new_deal(org)).owner_id for _ in range(2)] == [reps[0].id, reps[1].id]


async def test_imported_rows_without_an_owner_are_assigned_with_assign(org):
    from resolvers.spreadsheets import import_opportunities

    reps = await add_users(org, 2)
    await set_rules(org, rule("Inbound", reps, tags=["web"]))
    owned = org.users["legal_member"].email
    csv = ("title,account,tags,owner\n"
           f"A,Acme,web,\nB,Beta,web,\nC,Gamma,,\nD,Delta,web,{owned}\nE,Epsilon,web,\n").encode()
    report = await import_opportunities(org.ctx("sales_admin"), csv, "deals.csv", default_owner=None, assign=True)
    assert (report.created, report.rejected) == (5, [])
    async with org.db.read() as s:
        rows = dict((await s.execute(select(m.Opportunity.title, m.Opportunity.owner_id).where(m.Opportunity.org_id == org.id))).all())
    manager = org.users["sales_manager"].id  # C matches no rule: the pool of the importer's department
    assert rows == {"A": reps[0].id, "B": reps[1].id, "C": manager, "D": org.users["legal_member"].id, "E": reps[0].id}
    assert [e.changes for e in await events_of(org, "OPPORTUNITY_ASSIGNED")] == [
        {"owner": [org.users["sales_admin"].id, pk], "rule": [None, "Inbound"]} for pk in (reps[0].id, reps[1].id, reps[0].id)]
    [pooled] = await events_of(org, "OPPORTUNITY_POOLED")
    assert pooled.changes == {"owner": [org.users["sales_admin"].id, manager], "pool": [None, "sales"], "reason": [None, "NO_MATCH"]}
