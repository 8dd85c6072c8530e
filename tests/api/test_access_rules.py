"""Access rules: admins set data scopes and hidden fields; involvement keeps cards in
view; invisible cards do not exist for mutations; the board's statement budget holds."""
from datetime import date

import pytest

from resolvers import comments, handoffs, tasks
from resolvers import opportunities as rules
from resolvers.ids import to_global
from tests.sqlcount import StatementCounter

SET_RULE = """mutation($input: SetAccessRuleInput!) { setAccessRule(input: $input) {
  accessRule { role departmentKey scope hiddenFields } userErrors { field code message } } }"""
RULES = "{ accessRules { role departmentKey scope hiddenFields } }"
TITLES = "{ opportunities(first: 100) { totalCount edges { node { title amount hiddenFields account { name } } } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on Opportunity { title amount } } }"


async def set_rule(gql, as_="sales_admin", **fields) -> dict:
    return (await gql.ok(SET_RULE, {"input": fields}, as_=as_))["setAccessRule"]


async def card(org, title: str, owner="sales_member", amount=100, **extra) -> str:
    ctx = org.ctx(owner)
    opp, errors = await rules.create_opportunity(ctx, {
        "title": title, "account_name": f"{title} Ltd", "amount": amount, "expected_close_date": date(2030, 1, 1), **extra,
    })
    assert not errors, errors
    return to_global("Opportunity", opp.id)


async def titles(gql, as_) -> list[str]:
    data = await gql.ok(TITLES, as_=as_)
    return sorted(e["node"]["title"] for e in data["opportunities"]["edges"])


async def test_admins_set_and_list_rules_and_the_most_specific_wins(gql):
    assert (await gql.ok(RULES, as_="sales_admin"))["accessRules"] == []
    general = await set_rule(gql, role="MEMBER", scope="OWN")
    assert general == {"accessRule": {"role": "MEMBER", "departmentKey": None, "scope": "OWN", "hiddenFields": []}, "userErrors": []}
    specific = await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="ALL", hiddenFields=["amount", "account"])
    assert specific["accessRule"]["hiddenFields"] == ["account", "amount"]
    # Setting it again replaces it (one rule per role and department).
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="ALL", hiddenFields=["amount"])
    listed = (await gql.ok(RULES, as_="sales_admin"))["accessRules"]
    assert listed == [
        {"role": "MEMBER", "departmentKey": None, "scope": "OWN", "hiddenFields": []},
        {"role": "MEMBER", "departmentKey": "marketing", "scope": "ALL", "hiddenFields": ["amount"]},
    ]
    # Members and tokens may not read or set them.
    body = await gql(RULES, as_="sales_member")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await set_rule(gql, as_="sales_member", role="MEMBER", scope="ALL")
    assert refused == {"accessRule": None, "userErrors": [{"field": None, "code": "FORBIDDEN", "message": "Only an admin can set access rules"}]}


async def test_bad_rules_report_every_problem_and_write_nothing(gql):
    result = await set_rule(gql, role="ADMIN", departmentKey="hr", scope="OWN", hiddenFields=["amount", "title"])
    assert result["accessRule"] is None
    assert sorted((e["field"][0], e["code"]) for e in result["userErrors"]) == [
        ("departmentKey", "VALIDATION"), ("hiddenFields", "VALIDATION"), ("role", "VALIDATION"),
    ]
    assert (await gql.ok(RULES, as_="sales_admin"))["accessRules"] == []


async def test_default_is_everything_and_admins_always_see_all(gql, org):
    await card(org, "Sales deal")
    await card(org, "Legal deal", owner="legal_member")
    assert await titles(gql, "marketing_member") == ["Legal deal", "Sales deal"]
    await set_rule(gql, role="MEMBER", scope="OWN", hiddenFields=["amount"])
    await set_rule(gql, role="MANAGER", scope="OWN", hiddenFields=["amount"])
    assert await titles(gql, "marketing_member") == []
    data = await gql.ok(TITLES, as_="sales_admin")
    assert data["opportunities"]["totalCount"] == 2 and {e["node"]["amount"] for e in data["opportunities"]["edges"]} == {"100.00"}


async def test_scopes_own_and_department(gql, org):
    await card(org, "Member's", owner="sales_member")
    await card(org, "Manager's", owner="sales_manager")
    await card(org, "Legal's", owner="legal_member")
    await set_rule(gql, role="MEMBER", scope="OWN")
    # The holder's department keeps its cards in view: OWN still shows sales' cards to a sales member.
    assert await titles(gql, "sales_member") == ["Manager's", "Member's"]
    assert await titles(gql, "legal_member") == ["Legal's"]
    await set_rule(gql, role="MEMBER", departmentKey="legal", scope="DEPARTMENT")
    assert await titles(gql, "legal_member") == ["Legal's"]
    assert await titles(gql, "finance_member") == []  # the general MEMBER rule (OWN)
    assert await titles(gql, "legal_manager") == ["Legal's", "Manager's", "Member's"]  # no rule for managers


async def test_involvement_makes_a_card_visible_outside_scope(gql, org):
    await set_rule(gql, role="MEMBER", scope="OWN")
    gid = await card(org, "Joint deal")
    assert await titles(gql, "marketing_member") == []
    # A task for marketing.
    _, errors = await tasks.create_task(org.ctx("sales_member"), {"opportunity_id": gid, "title": "Brief", "department_key": "marketing"})
    assert not errors
    assert await titles(gql, "marketing_member") == ["Joint deal"]
    # A handoff to legal.
    assert await titles(gql, "legal_member") == []
    _, errors = await handoffs.request_handoff(org.ctx("sales_member"), {"opportunity_id": gid, "to_department_key": "legal"})
    assert not errors
    assert await titles(gql, "legal_member") == ["Joint deal"]
    # An @mention of a user (not of their department).
    assert await titles(gql, "product_member") == []
    _, errors = await comments.add_comment(org.ctx("sales_member"), {"opportunity_id": gid, "body": "@product_member thoughts?"})
    assert not errors
    assert await titles(gql, "product_member") == ["Joint deal"]
    # An approval step for finance.
    from resolvers import approvals

    assert await titles(gql, "finance_member") == []
    _, errors = await approvals.request_approval(org.ctx("sales_member"), {"opportunity_id": gid, "kind": "discount", "department_keys": ["finance"]})
    assert not errors, errors
    assert await titles(gql, "finance_member") == ["Joint deal"]


async def test_hidden_fields_are_null_listed_and_left_out_of_totals(gql, org):
    await card(org, "Big", amount=500)
    await card(org, "Small", amount=20)
    await card(org, "Unpriced", amount=None)
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="ALL", hiddenFields=["amount", "account", "probability"])
    data = await gql.ok(TITLES, as_="marketing_member")
    nodes = [e["node"] for e in data["opportunities"]["edges"]]
    assert {n["amount"] for n in nodes} == {None} and {n["account"]["name"] for n in nodes} == {""}
    assert {tuple(n["hiddenFields"]) for n in nodes} == {("account", "amount", "probability")}
    board = "{ board { columns { stage { key } totalCount totalAmount hiddenAmountCount } } }"
    lead = (await gql.ok(board, as_="marketing_member"))["board"]["columns"][0]
    assert lead == {"stage": {"key": "lead"}, "totalCount": 3, "totalAmount": "0.00", "hiddenAmountCount": 2}
    lead = (await gql.ok(board, as_="sales_member"))["board"]["columns"][0]
    assert lead == {"stage": {"key": "lead"}, "totalCount": 3, "totalAmount": "520.00", "hiddenAmountCount": 0}
    # A withheld account cannot be found by its name either.
    search = '{ opportunities(filter: {search: "Big Ltd"}) { totalCount } }'
    assert (await gql.ok(search, as_="marketing_member"))["opportunities"]["totalCount"] == 0
    assert (await gql.ok(search, as_="sales_member"))["opportunities"]["totalCount"] == 1


async def test_invisible_cards_are_not_found_and_hidden_fields_cannot_be_written(gql, org):
    secret = await card(org, "Secret")
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="DEPARTMENT", hiddenFields=["amount"])
    assert (await gql.ok(NODE, {"id": secret}, as_="marketing_member"))["node"] is None
    mutations = {
        "updateOpportunity": ('mutation($id: ID!) { updateOpportunity(input: {id: $id, version: 1, title: "X"}) { userErrors { code field } } }', ["id"]),
        "moveOpportunity": ('mutation($id: ID!) { moveOpportunity(input: {id: $id, version: 1, stageKey: "qualified"}) { userErrors { code field } } }', ["id"]),
        "addComment": ('mutation($id: ID!) { addComment(input: {opportunityId: $id, body: "hi"}) { userErrors { code field } } }', ["id"]),
        "createTask": ('mutation($id: ID!) { createTask(input: {opportunityId: $id, title: "t"}) { userErrors { code field } } }', ["id"]),
        "requestHandoff": ('mutation($id: ID!) { requestHandoff(input: {opportunityId: $id, toDepartmentKey: "legal"}) { userErrors { code field } } }', ["id"]),
    }
    for name, (doc, field) in mutations.items():
        result = (await gql.ok(doc, {"id": secret}, as_="marketing_member"))[name]
        assert result["userErrors"] == [{"code": "NOT_FOUND", "field": field}], name
    own = await card(org, "Marketing's", owner="marketing_member", amount=None)
    write = 'mutation($id: ID!, $a: Decimal) { updateOpportunity(input: {id: $id, version: 1, amount: $a, title: "Y"}) { opportunity { title } userErrors { code field } } }'
    refused = (await gql.ok(write, {"id": own, "a": "10"}, as_="marketing_member"))["updateOpportunity"]
    assert refused == {"opportunity": None, "userErrors": [{"code": "FORBIDDEN", "field": ["amount"]}]}
    assert (await gql.ok(NODE, {"id": own}, as_="sales_admin"))["node"] == {"title": "Marketing's", "amount": None}
    create = 'mutation { createOpportunity(input: {title: "Z", accountName: "Z", amount: "5"}) { opportunity { id } userErrors { code field } } }'
    assert (await gql.ok(create, as_="marketing_member"))["createOpportunity"]["userErrors"] == [{"code": "FORBIDDEN", "field": ["amount"]}]


async def test_a_department_token_reads_what_a_member_reads(gql, org):
    await card(org, "Sales only")
    approved = await card(org, "Finance approves")
    from resolvers import approvals

    _, errors = await approvals.request_approval(org.ctx("sales_member"), {"opportunity_id": approved, "kind": "discount", "department_keys": ["finance"]})
    assert not errors
    await set_rule(gql, role="MEMBER", departmentKey="finance", scope="DEPARTMENT", hiddenFields=["account"])
    made = await gql.ok('mutation { createApiToken(input: {name: "erp", scope: READ, departmentKey: "finance"}) { token apiToken { user { handle role } } } }', as_="sales_admin")
    token = made["createApiToken"]["token"]
    assert made["createApiToken"]["apiToken"]["user"] == {"handle": "finance_integration", "role": "MEMBER"}
    assert await titles(gql, "finance_member") == ["Finance approves"]
    data = await gql.ok(TITLES, token=token)
    assert [(e["node"]["title"], e["node"]["amount"], e["node"]["account"]["name"]) for e in data["opportunities"]["edges"]] == [
        ("Finance approves", "100.00", "")
    ]


@pytest.mark.parametrize("cards", [10, 60])
async def test_board_stays_within_its_statement_budget_with_rules_on(app, gql, org, cards):
    from tests.api.test_board_queries import BOARD

    for i in range(cards):
        owner = ("sales_member", "marketing_member", "legal_member")[i % 3]
        gid = await card(org, f"Deal {i}", owner=owner)
        if i % 4 == 0:
            await tasks.create_task(org.ctx("sales_admin"), {"opportunity_id": gid, "title": "Call", "department_key": "marketing"})
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="DEPARTMENT", hiddenFields=["amount"])
    with StatementCounter(app.state.baton.db.engine) as counter:
        data = await gql.ok(BOARD, as_="marketing_member")
    shown = [e["node"] for c in data["board"]["columns"] for e in c["opportunities"]["edges"]]
    # Marketing's own cards plus the sales/legal ones marketing has a task on.
    expected = {f"Deal {i}" for i in range(cards) if i % 3 == 1 or i % 4 == 0}
    assert {n["title"] for n in shown} == expected and {n["amount"] for n in shown} == {None}
    # sign-in (with the rules), pipeline+stages, totals, cards, handoffs, approvals
    assert counter.count <= 6, counter.count


async def test_events_name_every_involved_department_and_carry_what_the_receiver_may_see(gql, org):
    from resolvers import approvals

    gid = await card(org, "Approved deal", amount=4200)
    _, errors = await approvals.request_approval(org.ctx("sales_member"), {"opportunity_id": gid, "kind": "discount", "department_keys": ["finance"]})
    assert not errors
    _, errors = await handoffs.request_handoff(org.ctx("sales_member"), {"opportunity_id": gid, "to_department_key": "legal"})
    assert not errors
    node = (await gql.ok("query($id: ID!) { node(id: $id) { ... on Opportunity { version } } }", {"id": gid}))["node"]
    _, errors = await rules.move_opportunity(org.ctx("sales_member"), {"id": gid, "version": node["version"], "stage_key": "qualified"})
    assert not errors, errors
    await set_rule(gql, role="MEMBER", departmentKey="finance", scope="DEPARTMENT", hiddenFields=["account"])
    token = (await gql.ok('mutation { createApiToken(input: {name: "erp", scope: READ, departmentKey: "finance"}) { token } }',
                          as_="sales_admin"))["createApiToken"]["token"]
    events = (await gql.ok("{ events { edges { node { type departmentKeys snapshot } } } }", token=token))["events"]["edges"]
    moved = [e["node"] for e in events if e["node"]["type"] == "OPPORTUNITY_MOVED"]
    assert len(moved) == 1 and moved[0]["departmentKeys"] == ["finance", "legal", "sales"]
    snapshot = moved[0]["snapshot"]
    assert (snapshot["stage"], snapshot["amount"], snapshot["currency"], snapshot["account"]) == ("qualified", "4200.00", "USD", None)
    # Sales (no rule) sees the account in the same event.
    events = (await gql.ok("{ events { edges { node { type snapshot } } } }", as_="sales_member"))["events"]["edges"]
    assert [e["node"]["snapshot"]["account"] for e in events if e["node"]["type"] == "OPPORTUNITY_MOVED"] == ["Approved deal Ltd"]


async def test_approval_snapshots_withhold_hidden_fields(gql, org):
    from resolvers import approvals

    gid = await card(org, "Locked terms", amount="765432.10")
    _, errors = await approvals.request_approval(org.ctx("sales_member"), {"opportunity_id": gid, "kind": "discount", "department_keys": ["finance"]})
    assert not errors
    await set_rule(gql, role="MEMBER", departmentKey="marketing", scope="ALL", hiddenFields=["amount", "account"])
    body = await gql("{ approvals { kind snapshotRequested snapshotApproved changes { field before after } } }", as_="marketing_member")
    assert "765432.10" not in str(body) and "Locked terms Ltd" not in str(body)
    [seen] = body["data"]["approvals"]
    assert seen["snapshotRequested"]["amount"] is None and "currency" in seen["snapshotRequested"]
    admin = await gql("{ approvals { snapshotRequested } }", as_="sales_admin")
    assert admin["data"]["approvals"][0]["snapshotRequested"]["amount"] == "765432.10"
