"""Lists without pages have a bound: their resolvers never return more, and the query
cost multiplies by it, so the cost is an upper bound of the fields resolved."""
import csv
import io
import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from graphql import GraphQLList, GraphQLObjectType, get_named_type, get_nullable_type, parse
from sqlalchemy import select

from api.settings import Settings
from db import loaders as bounds
from db import models as m
from resolvers.accounts import MAX_OPEN_DEAL_OWNERS
from resolvers.approval_rules import LOCKABLE
from resolvers.assignment import MAX_RULES as MAX_ASSIGNMENT_RULES, MAX_VALUES as MAX_ASSIGNMENT_VALUES
from resolvers.channels import KINDS
from resolvers.escalation import MAX_RULES as MAX_ESCALATION_RULES
from resolvers.money import MAX_CURRENCIES, MAX_RATES
from resolvers.people import MAX_INVITES
from resolvers.records import MAX_ACCOUNT_CONTACTS, MAX_CARD_CONTACTS
from resolvers.attachments import MAX_CARD_ATTACHMENTS
from resolvers.stage_work import MAX_DELIVERABLES
from resolvers.targets import MAX_TARGETS
from schema import schema as plain_schema
from schema.planning import MAX_FORECAST_ROWS
from schema.limits import max_items, operation_cost
from tests.api.workflow_helpers import create

SCHEMA = plain_schema._schema
ROOT = Path(__file__).resolve().parents[2]


def cost(query: str) -> int:
    return operation_cost(SCHEMA, parse(query), None, {}, default_page=25, max_page=100)


def object_lists():
    """(type, field, definition) of every field returning a list of objects."""
    for type_name, gql_type in SCHEMA.type_map.items():
        if type_name.startswith("__") or not isinstance(gql_type, GraphQLObjectType):
            continue
        for name, field in gql_type.fields.items():
            if isinstance(get_nullable_type(field.type), GraphQLList) and isinstance(get_named_type(field.type), GraphQLObjectType):
                yield type_name, name, field


def test_every_unpaginated_list_declares_its_bound():
    unbounded = [
        f"{t}.{f}" for t, f, field in object_lists()
        if max_items(field) is None and "first" not in field.args
        # A page's edges are multiplied by the connection's `first`; a refusal reports its one mistake.
        and not (t.endswith("Connection") and f == "edges") and f != "userErrors"
    ]
    assert unbounded == []


def test_nested_lists_cost_at_least_the_product_of_their_bounds():
    assert cost("{ pipelines { stages { id } } }") >= bounds.MAX_PIPELINES * bounds.MAX_STAGES
    assert cost("{ approvals { steps { department { id } } } }") >= bounds.MAX_APPROVALS * bounds.MAX_DEPARTMENTS * 2
    per_card = bounds.MAX_CARD_APPROVALS * bounds.MAX_DEPARTMENTS + bounds.MAX_CARD_HANDOFFS
    board = "{ board { columns { opportunities(first: 10) { edges { node { approvals { steps { position } } handoffs { id } } } } } } }"
    assert cost(board) >= bounds.MAX_STAGES * 10 * per_card
    assert cost("{ users { department { name } } departments { id } }") >= bounds.MAX_USERS * 2 + bounds.MAX_DEPARTMENTS
    assert cost("{ opportunities(first: 5) { edges { node { comments(first: 5) { edges { node { mentions { id } } } } } } } }") >= (
        5 * 5 * bounds.MAX_MENTIONS
    )


def board_documents() -> dict[str, str]:
    """The GraphQL documents of the browser board (web/js/queries.js), expanded."""
    source = (ROOT / "web/js/queries.js").read_text()
    parts = {name: text for name, text in re.findall(r"const (\w+) = `(.*?)`;", source, re.S)}
    parts.update(re.findall(r"const (\w+) = '(.*?)';", source))

    def expand(text):
        return re.sub(r"\$\{(\w+)\}", lambda match: expand(parts[match.group(1)]), text)

    return {name: expand(text) for name, text in parts.items() if re.match(r"\s*(query|mutation|subscription)\b", expand(text))}


def test_the_board_fits_under_the_default_cost_limit():
    documents = board_documents()
    assert {"BOARD", "DETAIL", "LENS", "BOOT"} <= set(documents)
    limit = Settings().max_query_cost
    costs = {name: cost(doc) for name, doc in documents.items()}
    assert max(costs.values()) <= limit, costs


# --------------------------------------------------------------------------- the resolvers keep to them

REPORT = '{ assignmentReport(from: "2000-01-01T00:00:00Z", to: "2000-02-01T00:00:00Z") { %s } }'
# Field -> (the query reading it, path to the list in the answer). Every bounded field is here.
READS = {
    "Query.departments": ("{ departments { id } }", ["departments"]),
    "Query.users": ("{ users { id } }", ["users"]),
    "Query.pipelines": ("{ pipelines { id } }", ["pipelines"]),
    "Pipeline.stages": ("{ pipelines { stages { id } } }", ["pipelines", 0, "stages"]),
    "Board.columns": ("{ board { pipeline { stages { id } } columns { totalCount } } }", ["board", "columns"]),
    "Analytics.funnel": ("{ analytics { funnel { current } } }", ["analytics", "funnel"]),
    "BoardColumn.totals": ("{ board { columns { totals { currency } } } }", ["board", "columns", 0, "totals"]),
    "FunnelStage.totals": ("{ analytics { funnel { totals { currency } } } }", ["analytics", "funnel", 0, "totals"]),
    "Analytics.totals": ("{ analytics { totals { currency } } }", ["analytics", "totals"]),
    "Analytics.openTotals": ("{ analytics { openTotals { currency } } }", ["analytics", "openTotals"]),
    "Analytics.wonTotals": ("{ analytics { wonTotals { currency } } }", ["analytics", "wonTotals"]),
    "Query.exchangeRates": ("{ exchangeRates { currency } }", ["exchangeRates"]),
    "Opportunity.handoffs": ("query($id: ID!) { node(id: $id) { ... on Opportunity { handoffs { id } } } }", ["node", "handoffs"]),
    "Opportunity.approvals": ("query($id: ID!) { node(id: $id) { ... on Opportunity { approvals { id } } } }", ["node", "approvals"]),
    "Approval.steps": ("{ approvals(departmentKey: \"d10\") { steps { position } } }", ["approvals", 0, "steps"]),
    "Comment.mentions": ("query($id: ID!) { node(id: $id) { ... on Opportunity { comments { edges { node { mentions { id } } } } } } }",
                         ["node", "comments", "edges", 0, "node", "mentions"]),
    "Query.approvals": ("{ approvals { id } }", ["approvals"]),
    "Query.apiTokens": ("{ apiTokens { id } }", ["apiTokens"]),
    "Query.webhooks": ("{ webhooks { id } }", ["webhooks"]),
    "Query.accessRules": ("{ accessRules { role } }", ["accessRules"]),
    "Query.escalationRules": ("{ escalationRules { kind } }", ["escalationRules"]),
    "NotificationPreferences.routes": ("{ notificationPreferences { routes { kind } } }", ["notificationPreferences", "routes"]),
    "ApprovalStep.approvers": ("{ approvals(departmentKey: \"d10\") { steps { approvers { id } } } }", ["approvals", 0, "steps", 0, "approvers"]),
    "ApprovalStep.approvedBy": ("{ approvals(departmentKey: \"d10\") { steps { approvedBy { id } } } }", ["approvals", 0, "steps", 0, "approvedBy"]),
    "ApprovalStep.decisions": ("{ approvals(departmentKey: \"d10\") { steps { decisions { at } } } }", ["approvals", 0, "steps", 0, "decisions"]),
    "Approval.decisions": ("{ approvals(departmentKey: \"d10\") { decisions { at } } }", ["approvals", 0, "decisions"]),
    "Approval.changes": ("{ approvals(departmentKey: \"d10\") { changes { field } } }", ["approvals", 0, "changes"]),
    "Opportunity.checklist": ("query($id: ID!) { node(id: $id) { ... on Opportunity { checklist { key } } } }", ["node", "checklist"]),
    "Stage.deliverables": ("{ pipelines { stages { deliverables { key } } } }", ["pipelines", 0, "stages", 0, "deliverables"]),
    "Opportunity.stageTimes": ("query($id: ID!) { node(id: $id) { ... on Opportunity { stageTimes { hours } } } }", ["node", "stageTimes"]),
    "StageTime.departments": ("query($id: ID!) { node(id: $id) { ... on Opportunity { stageTimes { departments { hours } } } } }",
                              ["node", "stageTimes", 0, "departments"]),
    "BoardEvent.fieldChanges": ("query($id: ID!) { node(id: $id) { ... on Opportunity { history(first: 1) { edges { node { fieldChanges { field } } } } } } }",
                                ["node", "history", "edges", 0, "node", "fieldChanges"]),
    "ApprovalRule.steps": ("{ pipelines { stages { approvalRule { steps { mode } } } } }", ["pipelines", 0, "stages", 0, "approvalRule", "steps"]),
    "ApprovalRuleStep.approvers": ("{ pipelines { stages { approvalRule { steps { approvers { id } } } } } }",
                                   ["pipelines", 0, "stages", 0, "approvalRule", "steps", 0, "approvers"]),
    "Account.openDealOwners": ("query($id: ID!) { node(id: $id) { ... on Opportunity { account { openDealOwners { id } } } } }",
                               ["node", "account", "openDealOwners"]),
    "Department.managers": ("{ viewer { department { managers { id } } } }", ["viewer", "department", "managers"]),
    "Query.invites": ("{ invites { email } }", ["invites"]),
    "Pipeline.archivedStages": ("{ pipelines { archivedStages { key } } }", ["pipelines", 1, "archivedStages"]),
    "OwnershipConflict.opportunities": ("query($id: ID!) { node(id: $id) { ... on Opportunity { ownershipConflict { opportunities { id } } } } }",
                                        ["node", "ownershipConflict", "opportunities"]),
    "Account.contacts": ("query($id: ID!) { node(id: $id) { ... on Opportunity { account { contacts { id } } } } }",
                         ["node", "account", "contacts"]),
    "Opportunity.contacts": ("query($id: ID!) { node(id: $id) { ... on Opportunity { contacts { role } } } }", ["node", "contacts"]),
    "Opportunity.attachments": ("query($id: ID!) { node(id: $id) { ... on Opportunity { attachments { id } } } }", ["node", "attachments"]),
    "Query.assignmentRules": ("{ assignmentRules { name } }", ["assignmentRules"]),
    "AssignmentRule.users": ("{ assignmentRules { users { id } } }", ["assignmentRules", 0, "users"]),
    "AssignmentReport.rules": (REPORT % "rules { ruleName }", ["assignmentReport", "rules"]),
    "AssignmentReport.owners": (REPORT % "owners { openLoad }", ["assignmentReport", "owners"]),
    "AssignmentRuleStats.people": (REPORT % "rules { people { openLoad } }", ["assignmentReport", "rules", 1, "people"]),
    "Forecast.rows": ("{ forecast(groupBy: OWNER) { rows { month } } }", ["forecast", "rows"]),
    "Query.targets": ('{ targets(period: "2000-01") { wonCount } }', ["targets"]),
    "Query.collaboration": ('{ collaboration(from: "2000-01-01T00:00:00Z", to: "2000-02-01T00:00:00Z") { dealCount } }',
                            ["collaboration"]),
}


def dig(data, path):
    for step in path:
        data = data[step]
    return data


async def overfill(org, opp_gid: str) -> None:
    """One more row than each bound allows, written straight to the database."""
    from resolvers.ids import parse_global

    opp_id = parse_global(opp_gid)[1]
    admin = org.users["sales_admin"]
    tag = uuid.uuid4().hex[:8]
    when = datetime.now(timezone.utc) - timedelta(days=30)
    async with org.db.write() as s:
        have = len((await s.execute(select(m.Department).where(m.Department.org_id == org.id))).scalars().all())
        s.add_all(m.Department(org_id=org.id, key=f"d{i}", name=f"D{i}") for i in range(have, bounds.MAX_DEPARTMENTS + 1))
        await s.flush()
        departments = (await s.execute(select(m.Department).where(m.Department.org_id == org.id))).scalars().all()
        s.add_all(m.User(org_id=org.id, department_id=admin.department_id, name=f"U{i}", email=f"u{i}.{tag}@example.test",
                         handle=f"u{i}_{tag}", role="MANAGER") for i in range(bounds.MAX_USERS + 1))
        s.add_all(m.Pipeline(org_id=org.id, name=f"P{i}", position=i + 1) for i in range(bounds.MAX_PIPELINES))
        pipeline = (await s.execute(select(m.Pipeline).where(m.Pipeline.org_id == org.id).order_by(m.Pipeline.id))).scalars().first()
        # In position order: stages[0] is the card's (Lead). Without ORDER BY PostgreSQL may return
        # an updated row last (make_org updates the Proposal stage), and the checklist read came back empty.
        stages = (await s.execute(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id).order_by(m.Stage.position))).scalars().all()
        s.add_all(m.Stage(pipeline_id=pipeline.id, key=f"s{i}", name=f"S{i}", position=i, kind="OPEN", required_fields=[],
                          required_approvals=[]) for i in range(len(stages), bounds.MAX_STAGES + 1))
        # A second pipeline whose stages are all archived: more than a pipeline may hold.
        archived_in = (await s.execute(select(m.Pipeline).where(m.Pipeline.org_id == org.id).order_by(m.Pipeline.id))).scalars().all()[1]
        s.add_all(m.Stage(pipeline_id=archived_in.id, key=f"a{i}", name=f"A{i}", position=i, kind="OPEN", required_fields=[],
                          required_approvals=[], archived_at=when) for i in range(bounds.MAX_STAGES + 1))
        s.add_all(m.OneTimeLink(org_id=org.id, kind="INVITE", token_hash=uuid.uuid4().hex + f"{i:032d}", email=f"i{i}@example.test",
                                department_id=admin.department_id, role="MEMBER", expires_at=when + timedelta(days=60))
                  for i in range(MAX_INVITES + 1))
        dept = admin.department_id
        s.add_all(m.Handoff(org_id=org.id, opportunity_id=opp_id, from_department_id=dept, to_department_id=dept,
                            requested_by_id=admin.id, status="CANCELLED") for _ in range(bounds.MAX_CARD_HANDOFFS + 1))
        approvals = [m.Approval(org_id=org.id, opportunity_id=opp_id, requested_by_id=admin.id, kind="discount", status="CANCELLED")
                     for _ in range(bounds.MAX_APPROVALS + 1)]
        s.add_all(approvals)
        await s.flush()
        steps = [m.ApprovalStep(approval_id=approvals[-1].id, position=i, department_id=d.id) for i, d in enumerate(departments)]
        s.add_all(steps)
        users = (await s.execute(select(m.User.id).where(m.User.org_id == org.id))).scalars().all()
        await s.flush()
        s.add_all(m.ApprovalApprover(step_id=steps[0].id, user_id=u, status="APPROVED") for u in users[:bounds.MAX_STEP_APPROVERS + 1])
        s.add_all(m.ApprovalAction(approval_id=approvals[-1].id, step_id=steps[0].id, user_id=admin.id, action="URGED")
                  for _ in range(bounds.MAX_APPROVAL_ACTIONS + 1))
        approvals[-1].snapshot_requested = {name: "changed since" for name in LOCKABLE}
        stages[0].auto_approval = {"kind": "x", "steps": [{"userIds": users[:bounds.MAX_STEP_APPROVERS + 1]}] * (bounds.MAX_APPROVAL_STEPS + 1)}
        stages[0].deliverables = [{"key": f"k{i}", "title": f"T{i}", "departmentKey": departments[0].key, "field": None}
                                  for i in range(MAX_DELIVERABLES + 1)]
        # The card's log: in its first stage the baton through every department, then a
        # move through one stage more than a pipeline has, then one change of many fields.
        log = [("HANDOFF_RESOLVED", {"department": [departments[i].key, departments[i + 1].key]}) for i in range(len(departments) - 1)]
        log += [("OPPORTUNITY_MOVED", {"stage": [f"s{i}", f"s{i + 1}"]}) for i in range(bounds.MAX_STAGES + 1)]
        log += [("OPPORTUNITY_UPDATED", {f"f{i}": [i, i + 1] for i in range(bounds.MAX_FIELD_CHANGES + 1)})]
        s.add_all(m.Event(org_id=org.id, seq=10_000 + i, type=t, occurred_at=when + timedelta(hours=i), opportunity_id=opp_id,
                          department_keys=[], changes=c) for i, (t, c) in enumerate(log))
        s.add(m.Comment(org_id=org.id, opportunity_id=opp_id, author_id=admin.id, body="@all", mention_user_ids=users[:bounds.MAX_MENTIONS + 1]))
        s.add_all(m.ApiToken(org_id=org.id, user_id=admin.id, kind="api", name=f"t{i}", token_hash=uuid.uuid4().hex + f"{i:032d}")
                  for i in range(bounds.MAX_API_TOKENS + 1))
        s.add_all(m.Webhook(org_id=org.id, url=f"https://example.com/{i}", secret="whsec_x", event_types=[], department_keys=[],
                            enabled=False, cursor_seq=0) for i in range(bounds.MAX_WEBHOOKS + 1))
        # Every role with a rule for all departments and one per department: more than the bound.
        s.add_all(m.AccessRule(org_id=org.id, role=role, department_key=key, scope="ALL", hidden_fields=[])
                  for role in ("MANAGER", "MEMBER", "VIEWER") for key in ["", *(d.key for d in departments)])
        s.add_all(m.EscalationRule(org_id=org.id, kind="stale", stage_key=f"s{i}") for i in range(MAX_ESCALATION_RULES + 1))
        s.add(m.NotificationPreference(user_id=admin.id, org_id=org.id, routes={f"kind{i}": [] for i in range(20)} | {k: [] for k in KINDS}))
        # The card's column holds amounts in more currencies than a total lists; more rates than are listed.
        card = await s.get(m.Opportunity, opp_id)
        codes = [f"Q{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(MAX_CURRENCIES + 1)]
        won = next(st for st in stages if st.kind == "WON")  # and the won ones too (Analytics.wonTotals)
        s.add_all(m.Opportunity(**{c.key: getattr(card, c.key) for c in m.Opportunity.__table__.columns if c.key != "id"}
                                | {"amount": 1, "currency": code, "client_mutation_id": None} | extra)
                  for code in codes for extra in ({}, {"stage_id": won.id}))
        s.add_all(m.ExchangeRate(org_id=org.id, base_currency="USD", currency="EUR", rate=1, day=when.date() - timedelta(days=i))
                  for i in range(MAX_RATES + 1))
        # The card's customer: open deals of more owners than are listed, and its ownership conflict (撞单).
        s.add_all(m.Opportunity(**{c.key: getattr(card, c.key) for c in m.Opportunity.__table__.columns if c.key != "id"}
                                | {"owner_id": u, "client_mutation_id": None}) for u in users[1:MAX_OPEN_DEAL_OWNERS + 2])
        s.add(m.OwnershipConflict(org_id=org.id, account_id=card.account_id, opened_at=when))
        # The customer's contacts, more than listed, and more of them on the card than it lists.
        contacts = [m.Contact(org_id=org.id, account_id=card.account_id, name=f"C{i}") for i in range(MAX_ACCOUNT_CONTACTS + 1)]
        s.add_all(contacts)
        await s.flush()
        s.add_all(m.OpportunityContact(opportunity_id=opp_id, contact_id=c.id, role="USER") for c in contacts[:MAX_CARD_CONTACTS + 1])
        # More files on the card than it lists.
        s.add_all(m.Attachment(org_id=org.id, opportunity_id=opp_id, kind="other", name=f"f{i}.txt", content_type="text/plain",
                               size=1, sha256="0" * 64, uploaded_by_id=admin.id) for i in range(MAX_CARD_ATTACHMENTS + 1))
        # More assignment rules than listed: the first names more users than a rule lists, the second
        # a department of more people than a rule considers (and the report lists owners).
        s.add_all(m.AssignmentRule(org_id=org.id, position=i, name=f"R{i}", match={}, strategy="ROUND_ROBIN",
                                   target=[{"userIds": users[:MAX_ASSIGNMENT_VALUES + 1]}, {"departmentKey": "sales"}][i] if i < 2
                                   else {"userIds": users[:1]})
                  for i in range(MAX_ASSIGNMENT_RULES + 1))
        # More forecast cells (owner x close month) than a forecast lists; more targets in a period than are listed.
        s.add_all(m.Opportunity(**{c.key: getattr(card, c.key) for c in m.Opportunity.__table__.columns if c.key != "id"}
                                | {"owner_id": users[i % len(users)], "amount": 1, "probability": 50, "client_mutation_id": None,
                                   "expected_close_date": date(2030, 1 + i // len(users), 1)})
                  for i in range(MAX_FORECAST_ROWS + 1))
        s.add_all(m.Target(org_id=org.id, scope="OWNER", scope_key=f"OWNER:{u}", owner_id=u, period="2000-01", new_qualified_count=1)
                  for u in users[:MAX_TARGETS + 1])


async def test_no_list_returns_more_than_its_bound(gql, org, client):
    declared = {f"{t}.{f}": max_items(field) for t, f, field in object_lists() if max_items(field) is not None}
    assert set(declared) == set(READS) | {"ImportOpportunitiesPayload.rejected", "OpportunityPayload.columns", "AccountPayload.possibleDuplicates",
                                          "PipelineStagesPayload.stages", "SetAssignmentRulesPayload.assignmentRules"}
    opp = await create(gql, as_="sales_admin")
    await overfill(org, opp["id"])
    for name, (query, path) in READS.items():
        data = await gql.ok(query, {"id": opp["id"]} if "$id" in query else None, as_="sales_admin")
        assert len(dig(data, path)) == declared[name], name
    board = await gql.ok(READS["Board.columns"][0], as_="sales_admin")
    assert len(board["board"]["pipeline"]["stages"]) == bounds.MAX_STAGES  # primed by the board, not loaded

    # createStage refuses a stage past the bound.
    pipeline = (await gql.ok("{ pipelines { id } }", as_="sales_admin"))["pipelines"][0]["id"]
    refused = await gql.ok('mutation($i: CreateStageInput!) { createStage(input: $i) { userErrors { code field } } }',
                           {"i": {"pipelineId": pipeline, "key": "one_more"}}, as_="sales_admin")
    assert refused["createStage"]["userErrors"] == [{"code": "VALIDATION", "field": ["pipelineId"]}]

    # An import reports at most MAX_IMPORT_REJECTIONS rejected rows (all of them are counted).
    rows = io.StringIO()
    csv.writer(rows).writerows([["Title", "Account"], *[[f"t{i}", ""] for i in range(bounds.MAX_IMPORT_REJECTIONS + 1)]])
    operations = {"query": "mutation($f: Upload!) { importOpportunities(input: {file: $f, dryRun: true}) { rows rejected { row } } }",
                  "variables": {"f": None}}
    r = await client.post("/graphql", data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
                          files={"0": ("bad.csv", rows.getvalue().encode(), "text/csv")},
                          headers={"authorization": f"Bearer {org.tokens['sales_admin']}"})
    report = r.json()["data"]["importOpportunities"]
    assert report["rows"] == bounds.MAX_IMPORT_REJECTIONS + 1
    assert len(report["rejected"]) == declared["ImportOpportunitiesPayload.rejected"]

    # A move's payload carries two columns: the one left and the one entered.
    card = await create(gql, as_="sales_admin")
    moved = await gql.ok("""mutation($i: MoveOpportunityInput!) { moveOpportunity(input: $i) {
      columns { stage { key } } userErrors { code } } }""", {"i": {"id": card["id"], "version": card["version"], "stageKey": "qualified"}},
                         as_="sales_admin")
    assert len(moved["moveOpportunity"]["columns"]) == declared["OpportunityPayload.columns"] == 2
