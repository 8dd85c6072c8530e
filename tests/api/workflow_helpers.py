"""GraphQL documents and helpers shared by the workflow tests."""
from sqlalchemy import func, select, update

from db import models as m
from resolvers.ids import parse_global

CREATE = """mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) {
  opportunity { id version } userErrors { field code message } } }"""
UPDATE = """mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) {
  opportunity { id version } userErrors { field code message } } }"""
MOVE = """mutation($input: MoveOpportunityInput!) { moveOpportunity(input: $input) {
  opportunity { id version stage { key } } userErrors { field code message } } }"""
OPP = """query($id: ID!) { node(id: $id) { ... on Opportunity { id version stage { key } department { key }
  handoffs { status } approvals { id kind status steps { position status department { key } } } } } }"""
HANDOFF_FIELDS = "handoff { id status note responseNote respondedAt fromDepartment { key } toDepartment { key } assignee { handle } opportunity { version department { key } } } userErrors { field code message }"
REQUEST_HANDOFF = "mutation($input: RequestHandoffInput!) { requestHandoff(input: $input) { %s } }" % HANDOFF_FIELDS
RESPOND_HANDOFF = "mutation($input: RespondHandoffInput!) { respondHandoff(input: $input) { %s } }" % HANDOFF_FIELDS
CANCEL_HANDOFF = "mutation($input: CancelHandoffInput!) { cancelHandoff(input: $input) { %s } }" % HANDOFF_FIELDS
APPROVAL_FIELDS = "approval { id kind mode status decidedAt comment steps { position status department { key } decidedBy { handle } comment } } userErrors { field code message }"
REQUEST_APPROVAL = "mutation($input: RequestApprovalInput!) { requestApproval(input: $input) { %s } }" % APPROVAL_FIELDS
DECIDE = "mutation($input: DecideApprovalInput!) { decideApproval(input: $input) { %s } }" % APPROVAL_FIELDS
CANCEL_APPROVAL = "mutation($input: CancelApprovalInput!) { cancelApproval(input: $input) { %s } }" % APPROVAL_FIELDS
INBOX = """query($unread: Boolean, $first: Int, $after: String) { notifications(unreadOnly: $unread, first: $first, after: $after) {
  totalCount unreadCount pageInfo { hasNextPage endCursor } edges { cursor node { id kind message read opportunity { id } } } } }"""
CREATE_STAGE = "mutation($input: CreateStageInput!) { createStage(input: $input) { userErrors { code field message } } }"
MARK_READ = "mutation($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) { unreadCount userErrors { code field } } }"


def pk(gid: str) -> int:
    """The primary key inside a global id (events hold plain ids)."""
    return parse_global(gid)[1]


async def create(gql, as_="sales_member", **fields) -> dict:
    data = {"title": "Fleet pilot", "accountName": "Northwind", **fields}
    result = (await gql.ok(CREATE, {"input": data}, as_=as_))["createOpportunity"]
    assert result["userErrors"] == [], result
    return result["opportunity"]


async def opp(gql, gid: str) -> dict:
    return (await gql.ok(OPP, {"id": gid}))["node"]


async def move(gql, gid: str, stage: str, as_="sales_member", **extra) -> dict:
    current = await opp(gql, gid)
    return (await gql.ok(MOVE, {"input": {"id": gid, "version": current["version"], "stageKey": stage, **extra}}, as_=as_))["moveOpportunity"]


async def set_stage(org, stage_key: str, **values) -> None:
    """Set a stage's columns directly (an owner, required approvals, timings, archived_at)."""
    async with org.db.write() as s:
        pipelines = select(m.Pipeline.id).where(m.Pipeline.org_id == org.id)
        await s.execute(update(m.Stage).where(m.Stage.pipeline_id.in_(pipelines), m.Stage.key == stage_key).values(**values))


async def add_stage(gql, key: str, **fields) -> None:
    """A stage added to the organization's pipeline by an admin (createStage; last unless `position`)."""
    pipeline = (await gql.ok("{ pipelines { id } }"))["pipelines"][0]["id"]
    made = await gql.ok(CREATE_STAGE, {"input": {"pipelineId": pipeline, "key": key, **fields}}, as_="sales_admin")
    assert made["createStage"]["userErrors"] == []


async def place(org, gid: str, key: str) -> None:
    """Put a card in a stage directly, past the gates on its way (not what the test is about)."""
    async with org.db.write() as s:
        stage = select(m.Stage.id).join(m.Pipeline).where(m.Pipeline.org_id == org.id, m.Stage.key == key)
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == pk(gid)).values(stage_id=stage.scalar_subquery()))


async def mutate(gql, doc: str, name: str, as_="sales_member", **data) -> dict:
    return (await gql.ok(doc, {"input": data}, as_=as_))[name]


async def events(org, type_: str | None = None) -> list[m.Event]:
    async with org.db.read() as s:
        stmt = select(m.Event).where(m.Event.org_id == org.id).order_by(m.Event.seq)
        if type_:
            stmt = stmt.where(m.Event.type == type_)
        return list((await s.execute(stmt)).scalars())


async def event_count(org) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(func.count()).select_from(m.Event).where(m.Event.org_id == org.id))


async def inbox(gql, as_: str, unread=None) -> dict:
    return (await gql.ok(INBOX, {"unread": unread}, as_=as_))["notifications"]
