"""Stage owners and deliverables (节点负责人 + 交付物): entering a stage hands the baton
by itself, deliverables gate the next stage, and each card knows how long each
department held it in each stage."""
from tests.api.workflow_helpers import (
    CREATE, DECIDE, MOVE, OPP, RESPOND_HANDOFF, UPDATE, events, inbox, mutate, pk,
)

CHECK = """mutation($input: CheckDeliverableInput!) { checkDeliverable(input: $input) {
  opportunity { checklist { key title done department { key } doneBy { handle } } } userErrors { field code message } } }"""
CARD = """query($id: ID!) { node(id: $id) { ... on Opportunity { version stage { key } department { key }
  handoffs { id status toDepartment { key } requestedBy { handle } }
  checklist { key title done field department { key } }
  stageTimes { stageKey hours departments { department { key } hours } } } } }"""
SET_WORK = """mutation($input: SetStageWorkInput!) { setStageWork(input: $input) {
  stage { key owner { department { key } role autoAccept } deliverables { key title department { key } field } requirePreviousDeliverables }
  userErrors { field code message } } }"""


async def card(gql, gid):
    return (await gql.ok(CARD, {"id": gid}))["node"]


async def move(gql, gid, stage, as_="sales_member"):
    version = (await card(gql, gid))["version"]
    return (await gql.ok(MOVE, {"input": {"id": gid, "version": version, "stageKey": stage}}, as_=as_))["moveOpportunity"]


async def deal_in_contract(gql) -> str:
    """A card with its contract approval granted, moved into Contract by sales."""
    made = (await gql.ok(CREATE, {"input": {"title": "门店系统", "accountName": "星辰科技", "amount": "80000",
                                            "expectedCloseDate": "2031-01-31"}}))["createOpportunity"]
    gid = made["opportunity"]["id"]
    assert (await move(gql, gid, "contract"))["userErrors"][0]["code"] == "STAGE_GATE"  # opens the approval
    approval = (await gql.ok(OPP, {"id": gid}))["node"]["approvals"][0]
    for who in ("legal_member", "finance_member"):
        await mutate(gql, DECIDE, "decideApproval", as_=who, id=approval["id"], approve=True)
    assert (await move(gql, gid, "contract"))["userErrors"] == []
    return gid


async def check(gql, gid, key, who, done=True, stage="contract"):
    return (await gql.ok(CHECK, {"input": {"opportunityId": gid, "stageKey": stage, "key": key, "done": done}}, as_=who))["checkDeliverable"]


async def test_entering_contract_hands_the_card_to_legal(gql, org):
    gid = await deal_in_contract(gql)
    c = await card(gql, gid)
    assert (c["stage"]["key"], c["department"]["key"]) == ("contract", "sales")
    [handoff] = c["handoffs"]
    assert (handoff["status"], handoff["toDepartment"]["key"], handoff["requestedBy"]["handle"]) == ("PENDING", "legal", "sales_member")
    [requested] = await events(org, "HANDOFF_REQUESTED")
    assert requested.changes == {"stage": "contract", "automatic": True}
    assert "legal" in requested.department_keys  # legal's queue and subscriptions hear it
    assert any("hands 门店系统 from Sales to Legal" in e["node"]["message"] for e in (await inbox(gql, "legal_manager"))["edges"])
    # Legal accepts: the same handoff as a manual one, the baton passes.
    await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=handoff["id"], accept=True)
    assert (await card(gql, gid))["department"]["key"] == "legal"
    # Entering a stage its owner already holds asks nobody.
    assert (await move(gql, gid, "negotiation"))["userErrors"] == []
    assert len((await card(gql, gid))["handoffs"]) == 1


async def test_leaving_with_the_handoff_unanswered_is_for_managers_and_recorded(gql, org):
    gid = await deal_in_contract(gql)
    refused = await move(gql, gid, "negotiation")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("FORBIDDEN", ["stageKey"])]
    assert (await move(gql, gid, "negotiation", as_="sales_manager"))["userErrors"] == []
    moved = (await events(org, "OPPORTUNITY_MOVED"))[-1]
    assert moved.changes == {"stage": ["contract", "negotiation"], "leftWithPendingHandoff": "legal"}


async def test_won_needs_contracts_deliverables_ticked_by_their_departments(gql, org):
    gid = await deal_in_contract(gql)
    handoff = (await card(gql, gid))["handoffs"][0]
    await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=handoff["id"], accept=True)
    refused = await move(gql, gid, "won")
    assert refused["userErrors"] == [{
        "field": ["deliverable:contract.legal-review", "deliverable:contract.payment-terms"], "code": "STAGE_GATE",
        "message": "Won needs these deliverables ticked first (Contract: 合同审核意见, 付款条款确认)"}]
    # Finance cannot tick legal's item; legal can.
    wrong = await check(gql, gid, "legal-review", "finance_member")
    assert [e["code"] for e in wrong["userErrors"]] == ["FORBIDDEN"]
    done = await check(gql, gid, "legal-review", "legal_member")
    assert [(i["key"], i["done"], i["doneBy"] and i["doneBy"]["handle"]) for i in done["opportunity"]["checklist"]] == [
        ("legal-review", True, "legal_member"), ("payment-terms", False, None)]
    [ticked] = await events(org, "DELIVERABLE_CHECKED")
    assert ticked.changes == {"stage": "contract", "deliverable": "legal-review", "title": "合同审核意见", "done": [False, True]}
    assert any("ticked “合同审核意见”" in e["node"]["message"] for e in (await inbox(gql, "sales_member"))["edges"])
    assert (await move(gql, gid, "won", as_="sales_member"))["userErrors"][0]["field"] == ["deliverable:contract.payment-terms"]
    # Ticking twice records nothing more; unticking is an event too.
    await check(gql, gid, "legal-review", "legal_member")
    assert len(await events(org, "DELIVERABLE_CHECKED")) == 1
    assert (await check(gql, gid, "missing", "legal_member"))["userErrors"][0]["code"] == "NOT_FOUND"
    await check(gql, gid, "payment-terms", "finance_member")
    assert (await move(gql, gid, "won"))["userErrors"] == []


async def test_a_deliverable_with_a_field_needs_it_filled(gql, org):
    made = (await gql.ok(CREATE, {"input": {"title": "报价", "accountName": "A", "amount": "10", "expectedCloseDate": "2031-01-31"}}))
    gid = made["createOpportunity"]["opportunity"]["id"]
    assert (await move(gql, gid, "proposal"))["userErrors"] == []
    cleared = await gql.ok(UPDATE, {"input": {"id": gid, "version": (await card(gql, gid))["version"], "amount": None}})
    assert cleared["updateOpportunity"]["userErrors"] == []  # the gate holds on entry, not after
    refused = await check(gql, gid, "quote", "sales_member", stage="proposal")
    assert refused["userErrors"] == [{"field": ["amount"], "code": "VALIDATION", "message": "Fill in amount before ticking “报价单”"}]


async def test_time_per_stage_and_department_matches_the_clock(gql, org, clock):
    made = (await gql.ok(CREATE, {"input": {"title": "计时", "accountName": "A", "amount": "10", "expectedCloseDate": "2031-01-31"}}))
    gid = made["createOpportunity"]["opportunity"]["id"]
    clock.advance(hours=5)
    await move(gql, gid, "qualified")  # lead: 5 h with sales
    clock.advance(hours=3)
    h = (await gql.ok("""mutation($i: RequestHandoffInput!) { requestHandoff(input: $i) { handoff { id } } }""",
                      {"i": {"opportunityId": gid, "toDepartmentKey": "product"}}))["requestHandoff"]["handoff"]
    clock.advance(hours=1)
    await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="product_member", id=h["id"], accept=True)  # qualified: 4 h sales
    clock.advance(hours=2.5)  # qualified: 2.5 h product, so far
    times = {t["stageKey"]: (t["hours"], {d["department"]["key"]: d["hours"] for d in t["departments"]}) for t in (await card(gql, gid))["stageTimes"]}
    assert times == {"lead": (5.0, {"sales": 5.0}), "qualified": (6.5, {"sales": 4.0, "product": 2.5})}


async def test_admins_set_owners_and_deliverables(gql, org):
    stages = (await gql.ok("{ pipelines { stages { id key } } }"))["pipelines"][0]["stages"]
    negotiation = next(s["id"] for s in stages if s["key"] == "negotiation")
    data = {"stageId": negotiation, "owner": {"departmentKey": "finance", "autoAccept": True},
            "deliverables": [{"title": "折扣审批单", "departmentKey": "finance", "key": "discount-form"}],
            "requirePreviousDeliverables": False}
    assert (await gql.ok(SET_WORK, {"input": data}))["setStageWork"]["userErrors"][0]["code"] == "FORBIDDEN"
    done = (await gql.ok(SET_WORK, {"input": data}, as_="sales_admin"))["setStageWork"]
    assert done["stage"] == {"key": "negotiation", "owner": {"department": {"key": "finance"}, "role": None, "autoAccept": True},
                             "deliverables": [{"key": "discount-form", "title": "折扣审批单", "department": {"key": "finance"}, "field": None}],
                             "requirePreviousDeliverables": False}
    bad = (await gql.ok(SET_WORK, {"input": {"stageId": negotiation, "deliverables": [{"title": " ", "departmentKey": "hr"}]}},
                        as_="sales_admin"))["setStageWork"]
    assert [e["code"] for e in bad["userErrors"]] == ["VALIDATION"]
    # autoAccept: entering negotiation passes the baton to finance at once.
    made = (await gql.ok(CREATE, {"input": {"title": "自动", "accountName": "A", "amount": "10", "expectedCloseDate": "2031-01-31"}}))
    gid = made["createOpportunity"]["opportunity"]["id"]
    assert (await move(gql, gid, "negotiation"))["userErrors"] == []
    c = await card(gql, gid)
    assert c["department"]["key"] == "finance" and [h["status"] for h in c["handoffs"]] == ["ACCEPTED"]
    resolved = (await events(org, "HANDOFF_RESOLVED"))[-1]
    assert resolved.changes == {"status": ["PENDING", "ACCEPTED"], "department": ["sales", "finance"], "automatic": True}
    assert resolved.opportunity_id == pk(gid)


async def test_a_stage_not_reached_cannot_be_ticked(gql, org):
    made = (await gql.ok(CREATE, {"input": {"title": "早", "accountName": "A", "amount": "10"}}))["createOpportunity"]
    early = await check(gql, made["opportunity"]["id"], "legal-review", "legal_member")
    assert early["userErrors"] == [{"field": ["stageKey"], "code": "INVALID_TRANSITION",
                                    "message": "The card has not reached Contract yet (it is in Lead)"}]
    assert await events(org, "DELIVERABLE_CHECKED") == []


async def test_stage_work_settings_are_checked_at_the_edge(gql, org):
    stages = (await gql.ok("{ pipelines { stages { id key } } }"))["pipelines"][0]["stages"]
    lead = next(s["id"] for s in stages if s["key"] == "lead")
    legal_user = (await gql.ok('{ users { id handle } }'))["users"]
    sales_member = next(u["id"] for u in legal_user if u["handle"] == "sales_member")

    async def refused(**fields):
        answer = (await gql.ok(SET_WORK, {"input": {"stageId": lead, **fields}}, as_="sales_admin"))["setStageWork"]
        assert answer["stage"] is None
        return [(e["field"], e["code"], e["message"]) for e in answer["userErrors"]]

    assert await refused(owner={"departmentKey": "hr"}) == [(["owner.departmentKey"], "VALIDATION", "Unknown department 'hr'")]
    assert await refused(owner={"departmentKey": "legal", "userId": sales_member}) == [
        (["owner.userId"], "VALIDATION", "The stage's owner must belong to Legal")]
    assert await refused(deliverables=[{"title": "A", "departmentKey": "legal", "key": "x"},
                                       {"title": "B", "departmentKey": "legal", "key": "x"}]) == [
        (["deliverables"], "VALIDATION", "Each deliverable of a stage needs its own key")]
    assert await refused(deliverables=[{"title": "A", "departmentKey": "legal", "field": "colour"}]) == [
        (["deliverables.field"], "VALIDATION", "A deliverable's field is one of amount, expectedCloseDate, probability, nextStep, lostReason")]
    assert await refused(deliverables=[{"title": f"T{i}", "departmentKey": "legal"} for i in range(11)]) == [
        (["deliverables"], "VALIDATION", "deliverables is a list of at most 10")]
    # Keys default to the title; the owner's role and named user are kept; nothing else changes.
    done = (await gql.ok(SET_WORK, {"input": {"stageId": lead, "owner": {"departmentKey": "sales", "role": "MANAGER", "userId": sales_member},
                                             "deliverables": [{"title": "Call Notes", "departmentKey": "sales"}]}}, as_="sales_admin"))["setStageWork"]
    assert done["userErrors"] == []
    assert done["stage"]["owner"] == {"department": {"key": "sales"}, "role": "MANAGER", "autoAccept": False}
    assert done["stage"]["deliverables"] == [{"key": "call-notes", "title": "Call Notes", "department": {"key": "sales"}, "field": None}]
    [changed] = [e for e in await events(org, "PIPELINE_UPDATED")]
    assert set(changed.changes) == {"stage", "owner", "deliverables"}
    # Clearing the owner: entering the stage hands nothing.
    cleared = (await gql.ok(SET_WORK, {"input": {"stageId": lead, "owner": None}}, as_="sales_admin"))["setStageWork"]
    assert cleared["stage"]["owner"] is None and cleared["stage"]["deliverables"][0]["key"] == "call-notes"
