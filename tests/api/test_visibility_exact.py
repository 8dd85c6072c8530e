"""Who sees which cards, fields and events (resolvers/visibility.py), asserted exactly:
each scope and each kind of involvement on its own, against viewers it must not reach;
which rule applies; withheld fields in reads, writes, events and snapshots; customer
events; the cards a viewer sees among given ids."""
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from db import models as m
from resolvers import approvals, comments, handoffs, tasks, visibility
from resolvers import opportunities as cards
from resolvers.errors import UserErrors
from resolvers.ids import to_global
from resolvers.setup import create_user
from resolvers.uow import mutate
from resolvers.visibility import Access, EventView
from tests.api.test_access_rules import set_rule, titles
from tests.conftest import GQL, make_org

EVENTS = "{ events(first: 100) { edges { node { type opportunity { title } changes snapshot } } } }"
INBOX = "{ notifications(first: 50) { totalCount edges { node { message opportunity { title } } } } }"
TASKS = "{ tasks(first: 50) { totalCount edges { node { title } } } }"
PREVIEW = """query($id: ID!) { accessPreview(userId: $id) { visibleCards hiddenFields sampleTitles } }"""


def gid(opp) -> str:
    return to_global("Opportunity", opp.id)


async def new_card(org, title: str, owner="sales_member", **extra) -> m.Opportunity:
    opp, errors = await cards.create_opportunity(org.ctx(owner), {
        "title": title, "account_name": f"{title} Ltd", "amount": 100, "expected_close_date": date(2030, 1, 1), **extra,
    })
    assert not errors, errors
    return opp


async def department_id(org, key: str) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(m.Department.id).where(m.Department.org_id == org.id, m.Department.key == key))


async def hold(org, opp, key: str, pool: str | None = None) -> None:
    """Put the card in `key`'s hands (and in `pool`'s pool), as a handoff or the pool would."""
    values = {"department_id": await department_id(org, key)}
    if pool is not None:
        values["pool_department_id"] = await department_id(org, pool)
    async with org.db.write() as s:
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == opp.id).values(**values))


async def add_user(org, key: str, department: str, role: str) -> m.User:
    async with org.db.write() as s:
        organization = await s.get(m.Organization, org.id)
        user = await create_user(s, organization, email=f"{key}.{org.id}@example.test", name=key, department_key=department,
                                 role=role, handle=key)
    org.users[key] = user
    return user


async def sign_in(org, key: str) -> None:
    from resolvers.auth import issue_token

    async with org.db.write() as s:
        org.tokens[key], _ = await issue_token(s, org.users[key], kind="session", now=datetime.now(timezone.utc), hours=1)


async def log_event(org, type_: str, opportunity_id=None, changes=None) -> m.Event:
    async def work(uow):
        return await uow.append_event(type_, opportunity_id=opportunity_id, changes=changes)

    event, errors = await mutate(org.ctx("sales_admin"), work)
    assert not errors
    return event


async def everyone(gql, *viewers) -> dict:
    return {who: await titles(gql, who) for who in viewers}


# ---------------------------------------------------------------- scopes


async def test_own_scope_shows_the_cards_one_owns_whoever_holds_them(gql, org):
    for title, owner in [("Legal member's", "legal_member"), ("Legal manager's", "legal_manager"), ("Finance's", "finance_member")]:
        await hold(org, await new_card(org, title, owner=owner), "sales")
    await set_rule(gql, role="MEMBER", scope="OWN")
    assert await everyone(gql, "legal_member", "finance_member", "marketing_member", "legal_manager") == {
        "legal_member": ["Legal member's"],
        "finance_member": ["Finance's"],
        "marketing_member": [],
        "legal_manager": ["Finance's", "Legal manager's", "Legal member's"],  # no rule for managers
    }


async def test_department_scope_shows_the_cards_owned_by_the_departments_people_whoever_holds_them(gql, org):
    for title, owner in [("Legal manager's", "legal_manager"), ("Finance's", "finance_member"), ("Sales'", "sales_member")]:
        await hold(org, await new_card(org, title, owner=owner), "marketing")
    await hold(org, await new_card(org, "Product's", owner="product_member"), "product")
    await set_rule(gql, role="MEMBER", scope="DEPARTMENT")
    assert await everyone(gql, "legal_member", "finance_member", "sales_member", "product_member") == {
        "legal_member": ["Legal manager's"],
        "finance_member": ["Finance's"],
        "sales_member": ["Sales'"],
        "product_member": ["Product's"],
    }


# ---------------------------------------------------------------- involvement outside scope


async def test_the_holding_department_and_the_pools_department_see_the_card(gql, org):
    await hold(org, await new_card(org, "Held by marketing"), "marketing")
    await hold(org, await new_card(org, "In product's pool"), "sales", pool="product")
    await hold(org, await new_card(org, "Held by finance"), "finance")
    await set_rule(gql, role="MEMBER", scope="OWN")
    assert await everyone(gql, "marketing_member", "product_member", "legal_member") == {
        "marketing_member": ["Held by marketing"],
        "product_member": ["In product's pool"],
        "legal_member": [],
    }


async def test_both_ends_of_a_handoff_see_the_card(gql, org):
    deal = await new_card(org, "Handed over")
    await hold(org, await new_card(org, "Kept by finance"), "finance")
    await set_rule(gql, role="MEMBER", scope="OWN")
    await set_rule(gql, role="MANAGER", scope="OWN")
    handoff, errors = await handoffs.request_handoff(org.ctx("sales_member"), {"opportunity_id": gid(deal), "to_department_key": "legal"})
    assert not errors
    # Pending: the receiving end sees it before it holds it.
    assert await everyone(gql, "legal_member", "legal_manager", "marketing_member") == {
        "legal_member": ["Handed over"], "legal_manager": ["Handed over"], "marketing_member": [],
    }
    _, errors = await handoffs.respond_handoff(org.ctx("legal_manager"), {"id": to_global("Handoff", handoff.id), "accept": True})
    assert not errors
    # Accepted: legal holds it; sales' manager (neither owner nor holder now) sees it as the sending end.
    assert await everyone(gql, "sales_manager", "legal_member", "marketing_member", "finance_member") == {
        "sales_manager": ["Handed over"], "legal_member": ["Handed over"], "marketing_member": [], "finance_member": ["Kept by finance"],
    }


async def test_an_approval_steps_department_and_its_named_approvers_see_the_card(gql, org):
    deal = await new_card(org, "Discounted")
    await new_card(org, "Not asked")
    await add_user(org, "finance_viewer", "finance", "VIEWER")
    await sign_in(org, "finance_viewer")
    approval, errors = await approvals.request_approval(org.ctx("sales_member"), {"opportunity_id": gid(deal), "kind": "discount", "department_keys": ["finance"]})
    assert not errors, errors
    async with org.db.write() as s:
        step = await s.scalar(select(m.ApprovalStep.id).where(m.ApprovalStep.approval_id == approval.id))
        s.add(m.ApprovalApprover(step_id=step, user_id=org.users["marketing_member"].id, status="PENDING"))
    await set_rule(gql, role="MEMBER", scope="OWN")
    await set_rule(gql, role="VIEWER", scope="OWN")
    # A viewer is never an approver: finance_viewer sees the card through the step's department,
    # marketing_member through being named on the step.
    assert await everyone(gql, "finance_viewer", "marketing_member", "finance_member", "legal_member", "product_member") == {
        "finance_viewer": ["Discounted"], "marketing_member": ["Discounted"], "finance_member": ["Discounted"],
        "legal_member": [], "product_member": [],
    }


async def test_a_task_shows_its_card_to_its_assignee_and_to_its_department(gql, org):
    deal = await new_card(org, "Tasked")
    other = await new_card(org, "Untasked")
    _, errors = await tasks.create_task(org.ctx("sales_member"), {
        "opportunity_id": gid(deal), "title": "Check terms", "department_key": "legal", "assignee_id": to_global("User", org.users["product_member"].id),
    })
    assert not errors, errors
    _, errors = await tasks.create_task(org.ctx("sales_member"), {"opportunity_id": gid(other), "title": "Sales' own", "department_key": "sales"})
    assert not errors, errors
    await set_rule(gql, role="MEMBER", scope="OWN")
    await set_rule(gql, role="MANAGER", scope="OWN")
    assert await everyone(gql, "product_member", "legal_member", "legal_manager", "marketing_member") == {
        "product_member": ["Tasked"], "legal_member": ["Tasked"], "legal_manager": ["Tasked"], "marketing_member": [],
    }
    # The task list shows only the tasks of cards the viewer sees.
    data = await gql.ok(TASKS, as_="legal_member")
    assert (data["tasks"]["totalCount"], [e["node"]["title"] for e in data["tasks"]["edges"]]) == (1, ["Check terms"])
    data = await gql.ok(TASKS, as_="marketing_member")
    assert data["tasks"]["totalCount"] == 0 and data["tasks"]["edges"] == []


async def test_only_a_mention_of_the_viewer_on_that_card_shows_it(gql, org):
    mentioned = await new_card(org, "Mentioned")
    other = await new_card(org, "Other")
    _, errors = await comments.add_comment(org.ctx("sales_member"), {"opportunity_id": gid(mentioned), "body": "@product_member and @marketing, thoughts?"})
    assert not errors
    # Another kind of notification about a card is no reason to see it.
    async with org.db.write() as s:
        s.add(m.Notification(org_id=org.id, user_id=org.users["legal_member"].id, kind="assigned", message="About Other", opportunity_id=other.id))
    await set_rule(gql, role="MEMBER", scope="OWN")
    assert await everyone(gql, "product_member", "marketing_member", "legal_member", "finance_member") == {
        "product_member": ["Mentioned"], "marketing_member": ["Mentioned"], "legal_member": [], "finance_member": [],
    }


# ---------------------------------------------------------------- which rule applies


def rule_row(key, scope, hidden):
    return SimpleNamespace(department_key=key, scope=scope, hidden_fields=hidden)


def user(role="MEMBER", id=7, department_id=3):
    return SimpleNamespace(role=role, id=id, department_id=department_id)


def test_the_departments_rule_wins_over_the_roles_general_one_in_any_order():
    general, legal = ("", "OWN", ["amount"]), ("legal", "DEPARTMENT", ["probability", "account"])
    for rules in ([general, legal], [legal, general]):
        assert visibility.access_of(user(), "legal", rules) == Access(7, 3, "DEPARTMENT", frozenset({"probability", "account"}))
        assert visibility.access_of(user(), "sales", rules) == Access(7, 3, "OWN", frozenset({"amount"}))
    rows = [rule_row("legal", "ALL", None), rule_row("", "OWN", [])]
    assert visibility.access_of(user(), "legal", rows) == Access(7, 3, "ALL", frozenset())
    assert visibility.access_of(user(), "finance", rows) == Access(7, 3, "OWN", frozenset())
    # Only another department's rule: none applies.
    assert visibility.access_of(user(), "finance", [legal]) == Access(7, 3, "ALL", frozenset())
    assert visibility.access_of(user(), "finance", []) == Access(7, 3)
    # Admins see everything whatever the rules say.
    assert visibility.access_of(user("ADMIN"), "legal", [general, legal]) == Access(7, 3, "ALL", frozenset())


def test_an_access_says_whether_it_is_restricted_and_who_shares_it():
    everything = Access(1, 2)
    assert (everything.every_card, everything.restricted, everything.key, everything.hidden_list) == (True, False, ("ALL", ()), [])
    hiding = Access(1, 2, "ALL", frozenset({"probability", "amount"}))
    assert (hiding.every_card, hiding.restricted, hiding.key, hiding.hidden_list) == (
        True, True, ("ALL", ("amount", "probability")), ["amount", "probability"])
    # Everyone who sees every card with the same fields withheld shares one key.
    assert Access(9, 8, "ALL", frozenset({"amount", "probability"})).key == hiding.key
    own = Access(1, 2, "OWN")
    assert (own.every_card, own.restricted, own.key) == (False, True, ("OWN", (), 1, 2))
    department = Access(1, 2, "DEPARTMENT", frozenset({"account"}))
    assert (department.every_card, department.restricted, department.key) == (False, True, ("DEPARTMENT", ("account",), 1, 2))
    assert Access(3, 2, "DEPARTMENT", frozenset({"account"})).key != department.key
    assert Access(1, 4, "DEPARTMENT", frozenset({"account"})).key != department.key


async def test_the_rule_loaded_for_a_user_is_their_roles_for_their_department_else_for_all(gql, org):
    other = await make_org(org.db)
    await set_rule(gql, role="MEMBER", scope="OWN", hiddenFields=["amount"])
    await set_rule(gql, role="MEMBER", departmentKey="legal", scope="DEPARTMENT", hiddenFields=["probability"])
    await set_rule(gql, role="MEMBER", departmentKey="finance", scope="ALL", hiddenFields=["nextStep"])
    await set_rule(gql, role="MANAGER", departmentKey="sales", scope="OWN", hiddenFields=["lostReason"])
    # Another organization's rules for the same role and department do not apply.
    await set_rule(GQL(gql.client, other), role="MEMBER", departmentKey="marketing", scope="OWN", hiddenFields=["account"])
    expected = {
        "legal_member": ("DEPARTMENT", {"probability"}),
        "finance_member": ("ALL", {"nextStep"}),
        "marketing_member": ("OWN", {"amount"}),
        "sales_manager": ("OWN", {"lostReason"}),
        "legal_manager": ("ALL", set()),  # no rule for managers elsewhere
        "sales_admin": ("ALL", set()),
    }
    async with org.db.read() as s:
        for who, (scope, withheld) in expected.items():
            u = org.users[who]
            assert await visibility.load_access(s, u) == Access(u.id, u.department_id, scope, frozenset(withheld)), who
    async with other.db.read() as s:
        u = other.users["legal_member"]
        assert await visibility.load_access(s, u) == Access(u.id, u.department_id)
        u = other.users["marketing_member"]
        assert await visibility.load_access(s, u) == Access(u.id, u.department_id, "OWN", frozenset({"account"}))


async def test_the_access_of_a_viewer_is_loaded_once_and_none_without_a_viewer(gql, org):
    await set_rule(gql, role="MEMBER", departmentKey="legal", scope="OWN", hiddenFields=["amount"])
    u = org.users["legal_member"]
    expected = Access(u.id, u.department_id, "OWN", frozenset({"amount"}))
    ctx = org.ctx("legal_member")
    assert ctx.viewer.access is None
    assert await visibility.ensure_access(ctx) == expected and ctx.viewer.access == expected
    kept = ctx.viewer.access
    assert await visibility.ensure_access(ctx) is kept
    ctx = org.ctx("legal_member")
    async with org.db.read() as s:
        assert await visibility.ensure_access(ctx, s) == expected and ctx.viewer.access == expected
    ctx.viewer = None
    assert await visibility.ensure_access(ctx) is None


async def test_the_preview_and_direct_reads_apply_the_loaded_rule(gql, org):
    await hold(org, await new_card(org, "Legal's", owner="legal_member"), "sales")
    await new_card(org, "Sales'")
    await set_rule(gql, role="MEMBER", departmentKey="legal", scope="OWN", hiddenFields=["amount"])
    seen = (await gql.ok(PREVIEW, {"id": to_global("User", org.users["legal_member"].id)}, as_="sales_admin"))["accessPreview"]
    assert seen == {"visibleCards": 1, "hiddenFields": ["amount"], "sampleTitles": ["Legal's"]}
    # A context without a loaded rule (the CLI, jobs) reads what the member's session reads.
    page = await cards.list_opportunities(org.ctx("legal_member"), None, 100, None)
    assert [o.title for o in page.items] == ["Legal's"]


# ---------------------------------------------------------------- withheld fields


async def test_every_withholdable_field_is_refused_on_write_even_to_null(gql, org):
    own = await new_card(org, "Marketing's", owner="marketing_member")
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="ALL",
                   hiddenFields=["amount", "probability", "expectedCloseDate", "nextStep", "lostReason"])
    write = """mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) {
      opportunity { title } userErrors { code field message } } }"""
    fields = {"amount": None, "probability": None, "expectedCloseDate": None, "nextStep": None}
    result = (await gql.ok(write, {"input": {"id": gid(own), "version": 1, **fields}}, as_="marketing_member"))["updateOpportunity"]
    assert result == {"opportunity": None, "userErrors": [
        {"code": "FORBIDDEN", "field": [name], "message": f"Your access rule withholds {name}: you may not change it"}
        for name in ["amount", "probability", "expectedCloseDate", "nextStep"]
    ]}
    move = """mutation($id: ID!) { moveOpportunity(input: {id: $id, version: 1, stageKey: "lost", lostReason: "Price"}) {
      opportunity { title } userErrors { code field message } } }"""
    assert (await gql.ok(move, {"id": gid(own)}, as_="marketing_member"))["moveOpportunity"] == {"opportunity": None, "userErrors": [
        {"code": "FORBIDDEN", "field": ["lostReason"], "message": "Your access rule withholds lostReason: you may not change it"}]}
    # A field not withheld is written as usual.
    result = (await gql.ok(write, {"input": {"id": gid(own), "version": 1, "title": "Renamed"}}, as_="marketing_member"))["updateOpportunity"]
    assert result == {"opportunity": {"title": "Renamed"}, "userErrors": []}


def test_refusing_writes_names_each_withheld_input_and_nothing_else():
    everything = {"amount": 1, "probability": None, "expected_close_date": None, "next_step": "x", "lost_reason": None, "title": "t"}
    with pytest.raises(UserErrors) as refused:
        visibility.refuse_hidden_writes(Access(1, 2, "ALL", frozenset({"nextStep", "probability", "account"})), everything)
    assert [(e.code, e.field, e.message) for e in refused.value.errors] == [
        ("FORBIDDEN", ["probability"], "Your access rule withholds probability: you may not change it"),
        ("FORBIDDEN", ["nextStep"], "Your access rule withholds nextStep: you may not change it"),
    ]
    assert visibility.refuse_hidden_writes(Access(1, 2, "ALL", frozenset({"amount"})), {"title": "t", "probability": 5}) is None
    assert visibility.refuse_hidden_writes(Access(1, 2), everything) is None
    assert visibility.refuse_hidden_writes(None, everything) is None


def test_the_withheld_fields_of_a_rule():
    access = Access(1, 2, "ALL", frozenset({"amount"}))
    assert visibility.hidden(access) == frozenset({"amount"}) and visibility.hidden(None) == frozenset()


def event(**fields) -> m.Event:
    base = dict(id=11, org_id=1, seq=5, type="OPPORTUNITY_UPDATED", occurred_at=datetime(2030, 1, 2, tzinfo=timezone.utc), actor_id=3,
                opportunity_id=4, task_id=None, comment_id=None, handoff_id=None, approval_id=None, department_keys=["sales"],
                changes=None, snapshot=None)
    return m.Event(**{**base, **fields})


def test_withheld_fields_are_blanked_in_an_events_changes_and_snapshot():
    access = Access(1, 2, "ALL", frozenset({"amount", "account"}))
    original = event(changes={"amount": ["1.00", "2.00"], "title": ["A", "B"], "account": "Acme"},
                     snapshot={"amount": "2.00", "account": "Acme", "title": "B"})
    view = visibility.redact_event(access, original)
    assert isinstance(view, EventView)
    assert view.changes == {"amount": [None, None], "title": ["A", "B"], "account": None}
    assert view.snapshot == {"amount": None, "account": None, "title": "B"}
    assert {c: getattr(view, c) for c in ("id", "org_id", "seq", "type", "occurred_at", "actor_id", "opportunity_id", "task_id",
                                          "comment_id", "handoff_id", "approval_id", "department_keys")} == {
        "id": 11, "org_id": 1, "seq": 5, "type": "OPPORTUNITY_UPDATED", "occurred_at": datetime(2030, 1, 2, tzinfo=timezone.utc),
        "actor_id": 3, "opportunity_id": 4, "task_id": None, "comment_id": None, "handoff_id": None, "approval_id": None,
        "department_keys": ["sales"]}
    # The row itself is left as it was.
    assert original.changes == {"amount": ["1.00", "2.00"], "title": ["A", "B"], "account": "Acme"}
    assert visibility.redact_event(access, view) is view
    # Only the snapshot names a withheld field.
    view = visibility.redact_event(access, event(changes={"title": ["A", "B"]}, snapshot={"amount": "2.00"}))
    assert (view.changes, view.snapshot) == ({"title": ["A", "B"]}, {"amount": None})
    # Only the changes do.
    view = visibility.redact_event(access, event(changes={"amount": ["1", None]}, snapshot={"title": "B"}))
    assert (view.changes, view.snapshot) == ({"amount": [None, None]}, {"title": "B"})
    # Nothing withheld in it, nothing withheld from the viewer, or no viewer: the event itself.
    for viewer, row in [(access, event(changes={"title": ["A", "B"]}, snapshot={"stage": "lead"})),
                        (access, event()), (Access(1, 2), event(changes={"amount": ["1", "2"]})),
                        (None, event(changes={"amount": ["1", "2"]}))]:
        assert visibility.redact_event(viewer, row) is row


def test_withheld_values_are_blanked_in_a_dict_of_api_names():
    access = Access(1, 2, "ALL", frozenset({"amount"}))
    assert visibility.redact_values(access, {"amount": ["1", "2"], "title": "T"}) == {"amount": None, "title": "T"}
    values = {"title": "T"}
    assert visibility.redact_values(access, values) is values
    assert visibility.redact_values(None, {"amount": "1"}) == {"amount": "1"}
    assert visibility.redact_values(access, {}) == {}


async def test_events_carry_a_snapshot_with_only_what_the_reader_may_see(gql, org):
    await new_card(org, "Snap", amount="1234.50", probability=40, source="Trade fair", currency="EUR")
    await new_card(org, "Bare", amount=None, expected_close_date=None)
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="ALL", hiddenFields=["amount", "account", "expectedCloseDate"])
    full = {"title": "Snap", "stage": "lead", "department": "sales", "account": "Snap Ltd", "amount": "1234.50", "currency": "EUR",
            "probability": 40, "expectedCloseDate": "2030-01-01", "source": "Trade fair"}
    created = [e["node"] for e in (await gql.ok(EVENTS, as_="sales_member"))["events"]["edges"] if e["node"]["type"] == "OPPORTUNITY_CREATED"]
    assert [(e["opportunity"]["title"], e["snapshot"]) for e in created] == [
        ("Snap", full),
        ("Bare", {**full, "title": "Bare", "account": "Bare Ltd", "amount": None, "currency": "USD", "probability": None,
                  "expectedCloseDate": None, "source": None}),
    ]
    created = [e["node"] for e in (await gql.ok(EVENTS, as_="marketing_member"))["events"]["edges"] if e["node"]["type"] == "OPPORTUNITY_CREATED"]
    assert [e["snapshot"] for e in created][0] == {**full, "amount": None, "account": None, "expectedCloseDate": None}


# ---------------------------------------------------------------- events, inbox, customer events


def test_a_restricted_viewer_does_not_receive_card_less_customer_events():
    for type_ in ("ACCOUNT_CREATED", "ACCOUNT_UPDATED", "ACCOUNT_MERGED", "OWNERSHIP_CONFLICT_RESOLVED"):
        assert visibility.customer_event_withheld(True, SimpleNamespace(type=type_, opportunity_id=None)) is True
        assert visibility.customer_event_withheld(True, SimpleNamespace(type=type_, opportunity_id=4)) is False
        assert visibility.customer_event_withheld(False, SimpleNamespace(type=type_, opportunity_id=None)) is False
    assert visibility.customer_event_withheld(True, SimpleNamespace(type="OWNERSHIP_CONFLICT_RAISED", opportunity_id=None)) is False


async def test_the_event_log_keeps_card_less_events_and_withholds_customer_ones_from_restricted_viewers(gql, org):
    deal = await new_card(org, "Seen")
    await hold(org, deal, "finance")
    await hold(org, await new_card(org, "Unseen", owner="legal_member"), "legal")
    await log_event(org, "OWNERSHIP_CONFLICT_RESOLVED", opportunity_id=deal.id, changes={"owner": [1, 2]})
    await log_event(org, "ACCOUNT_UPDATED", changes={"name": ["Seen Ltd", "Seen Limited"]})
    await log_event(org, "OWNERSHIP_CONFLICT_RAISED", changes={"account": "Seen Ltd"})
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="ALL", hiddenFields=["probability"])
    await set_rule(gql, role="MEMBER", departmentKey="finance", scope="OWN")

    def seen(data):
        return [(e["node"]["type"], (e["node"]["opportunity"] or {}).get("title")) for e in data["events"]["edges"]]

    card_events = [("OPPORTUNITY_CREATED", "Seen"), ("OPPORTUNITY_CREATED", "Unseen"), ("OWNERSHIP_CONFLICT_RESOLVED", "Seen"),
                   ("OWNERSHIP_CONFLICT_RAISED", None), ("ACCESS_RULES_UPDATED", None), ("ACCESS_RULES_UPDATED", None)]
    assert seen(await gql.ok(EVENTS, as_="sales_member")) == [*card_events[:3], ("ACCOUNT_UPDATED", None), *card_events[3:]]
    # Restricted by a withheld field, or by scope: no customer event without a card.
    assert seen(await gql.ok(EVENTS, as_="marketing_member")) == card_events
    assert seen(await gql.ok(EVENTS, as_="finance_member")) == [("OPPORTUNITY_CREATED", "Seen"), ("OWNERSHIP_CONFLICT_RESOLVED", "Seen"),
                                                                 ("OWNERSHIP_CONFLICT_RAISED", None), ("ACCESS_RULES_UPDATED", None),
                                                                 ("ACCESS_RULES_UPDATED", None)]


async def test_the_inbox_keeps_notifications_without_a_card_and_drops_those_of_unseen_cards(gql, org):
    seen = await new_card(org, "Seen")
    unseen = await new_card(org, "Unseen", owner="legal_member")
    await hold(org, unseen, "legal")
    await hold(org, seen, "finance")
    async with org.db.write() as s:
        for text, opp in [("About Seen", seen.id), ("About Unseen", unseen.id), ("About nothing", None)]:
            s.add(m.Notification(org_id=org.id, user_id=org.users["finance_member"].id, kind="alert", message=text, opportunity_id=opp))
    await set_rule(gql, role="MEMBER", scope="OWN")
    data = (await gql.ok(INBOX, as_="finance_member"))["notifications"]
    assert data["totalCount"] == 2
    assert sorted((e["node"]["message"], (e["node"]["opportunity"] or {}).get("title")) for e in data["edges"]) == [
        ("About Seen", "Seen"), ("About nothing", None)]
    # A row without a card stays only where the column may be null.
    u = org.users["finance_member"]
    access = Access(u.id, u.department_id, "OWN")
    inbox = select(m.Notification.message).where(m.Notification.user_id == u.id).order_by(m.Notification.id)
    async with org.db.read() as s:
        on_card = visibility.on_visible_card(m.Notification.opportunity_id, access, org.id)
        assert (await s.execute(inbox.where(on_card))).scalars().all() == ["About Seen"]
        or_none = visibility.on_visible_card(m.Notification.opportunity_id, access, org.id, nullable=True)
        assert (await s.execute(inbox.where(or_none))).scalars().all() == ["About Seen", "About nothing"]


async def test_the_cards_seen_among_ids_are_the_visible_ones_of_the_organization(gql, org):
    mine = await new_card(org, "Mine", owner="legal_member")
    await hold(org, mine, "sales")
    theirs = await new_card(org, "Theirs")
    other = await make_org(org.db)
    foreign = await new_card(other, "Foreign", owner="legal_member")
    await set_rule(gql, role="MEMBER", scope="OWN")
    u = org.users["legal_member"]
    access = Access(u.id, u.department_id, "OWN")
    ids = {mine.id, theirs.id, foreign.id, None}
    async with org.db.read() as s:
        assert await visibility.visible_among(s, access, org.id, ids) == {mine.id}
        assert await visibility.visible_among(s, access, org.id, {None}) == set()
        assert await visibility.visible_among(s, access, org.id, {theirs.id}) == set()
        assert await visibility.visible_among(s, Access(u.id, u.department_id), org.id, ids) == {mine.id, theirs.id, foreign.id}
        assert await visibility.visible_among(s, None, org.id, {theirs.id, None}) == {theirs.id}
        everything = Access(u.id, u.department_id, "ALL", frozenset({"amount"}))
        assert await visibility.visible_among(s, everything, org.id, {theirs.id}) == {theirs.id}
    ctx = org.ctx("legal_member")
    await visibility.ensure_access(ctx)
    assert await visibility.visible_among(ctx.loaders, access, org.id, ids) == {mine.id}
    assert await visibility.visible_among(ctx.loaders, access, org.id, {theirs.id}) == set()
    # Ids of another organization's cards are never among the visible ones, even the viewer's own there.
    fu = other.users["legal_member"]
    async with org.db.read() as s:
        assert await visibility.visible_among(s, Access(fu.id, fu.department_id, "OWN"), org.id, ids) == set()
        assert await visibility.visible_among(s, Access(fu.id, fu.department_id, "OWN"), other.id, ids) == {foreign.id}


async def test_the_visible_ids_are_the_cards_the_viewer_sees_and_no_condition_when_every_card_is_seen(gql, org):
    mine = await new_card(org, "Mine", owner="legal_member")
    await hold(org, mine, "sales")
    theirs = await new_card(org, "Theirs")
    u = org.users["legal_member"]
    access = Access(u.id, u.department_id, "OWN")
    assert visibility.on_visible_card(m.Event.opportunity_id, None, org.id) is None
    assert visibility.on_visible_card(m.Event.opportunity_id, Access(u.id, u.department_id, "ALL", frozenset({"amount"})), org.id) is None
    assert visibility.visible_card_ids(Access(u.id, u.department_id), org.id) is None
    assert visibility.opportunity_clause(None) is None
    condition = m.Event.id == 1
    assert visibility.conditions(None, condition, None) == [condition] and visibility.conditions(None, None) == []
    async with org.db.read() as s:
        visible = (await s.execute(visibility.visible_card_ids(access, org.id))).scalars().all()
        kept = (await s.execute(select(m.Opportunity.id).where(visibility.on_visible_card(m.Opportunity.id, access, org.id)))).scalars().all()
    assert visible == kept == [mine.id] and theirs.id not in kept


# ---------------------------------------------------------------- what events carry


async def test_the_departments_involved_in_a_card_are_its_holder_both_ends_of_its_handoffs_and_its_approval_steps(gql, org):
    deal = await new_card(org, "Busy")
    quiet = await new_card(org, "Quiet")
    handoff, errors = await handoffs.request_handoff(org.ctx("sales_member"), {"opportunity_id": gid(deal), "to_department_key": "legal"})
    assert not errors
    _, errors = await handoffs.respond_handoff(org.ctx("legal_manager"), {"id": to_global("Handoff", handoff.id), "accept": True})
    assert not errors
    _, errors = await approvals.request_approval(org.ctx("sales_member"), {"opportunity_id": gid(deal), "kind": "discount", "department_keys": ["marketing"]})
    assert not errors, errors
    _, errors = await handoffs.request_handoff(org.ctx("legal_member"), {"opportunity_id": gid(deal), "to_department_key": "product"})
    assert not errors, errors
    finance = await department_id(org, "finance")
    async with org.db.read() as s:
        keys, snapshot = await visibility.card_context(s, await s.get(m.Opportunity, deal.id))
        assert keys == {"sales", "legal", "marketing", "product"}
        assert snapshot == {"title": "Busy", "stage": "lead", "department": "legal", "account": "Busy Ltd", "amount": "100.00",
                            "currency": "USD", "probability": None, "expectedCloseDate": "2030-01-01", "source": None}
        keys, snapshot = await visibility.card_context(s, await s.get(m.Opportunity, quiet.id))
        assert keys == {"sales"} and (snapshot["title"], snapshot["department"], snapshot["account"]) == ("Quiet", "sales", "Quiet Ltd")
        # Departments the event names besides are added (a missing one is ignored).
        keys, _ = await visibility.card_context(s, await s.get(m.Opportunity, quiet.id), [finance, None])
        assert keys == {"sales", "finance"}
