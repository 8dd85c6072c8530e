"""Stage owners and deliverables, exactly: every refusal of a stage's owner and
deliverable settings (code, field path, message) with nothing changed, the settings
kept as stored rows, and the moves, ticks and clock readings that follow from them."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from db import models as m
from resolvers import pipelines
from resolvers.ids import to_global
from resolvers.stage_work import time_in_stages
from tests.api.test_stage_work import check
from tests.api.workflow_helpers import REQUEST_HANDOFF, RESPOND_HANDOFF, create, events, inbox, move, mutate, pk

SET_WORK = """mutation($input: SetStageWorkInput!) { setStageWork(input: $input) {
  stage { key owner { department { key } role autoAccept user { handle } }
          deliverables { key title department { key } field } requirePreviousDeliverables }
  userErrors { field code message } } }"""


async def stage_ids(gql) -> dict:
    stages = (await gql.ok("{ pipelines { stages { id key } } }"))["pipelines"][0]["stages"]
    return {s["key"]: s["id"] for s in stages}


async def set_work(gql, stage_id, **fields) -> dict:
    return (await gql.ok(SET_WORK, {"input": {"stageId": stage_id, **fields}}, as_="sales_admin"))["setStageWork"]


async def stage_row(org, stage_id) -> m.Stage:
    async with org.db.read() as s:
        return await s.get(m.Stage, pk(stage_id))


async def settings(org, stage_id) -> tuple:
    row = await stage_row(org, stage_id)
    return row.owner, row.deliverables, row.require_previous_deliverables


async def refused(gql, org, stage_id, **fields) -> list[tuple]:
    """The refusal's errors; the stage and the event log stay as they were."""
    before, seen = await settings(org, stage_id), len(await events(org))
    answer = await set_work(gql, stage_id, **fields)
    assert answer["stage"] is None
    assert await settings(org, stage_id) == before and len(await events(org)) == seen
    return [(e["field"], e["code"], e["message"]) for e in answer["userErrors"]]


HANDOFFS = """query($id: ID!) { node(id: $id) { ... on Opportunity { stage { key } department { key }
  handoffs { status note respondedAt toDepartment { key } requestedBy { handle } assignee { handle } } } } }"""
TIMES = """query($id: ID!) { node(id: $id) { ... on Opportunity {
  stageTimes { stageKey hours departments { department { key } hours } } } } }"""
CHECKLIST = """query($id: ID!) { node(id: $id) { ... on Opportunity { checklist { key done doneAt doneBy { handle } } } } }"""


async def handoffs(gql, gid) -> dict:
    return (await gql.ok(HANDOFFS, {"id": gid}))["node"]


async def deal(gql, **fields) -> dict:
    return await create(gql, amount="10", expectedCloseDate="2031-01-31", **fields)


def item(title, department="legal", **extra) -> dict:
    return {"title": title, "departmentKey": department, **extra}


# ------------------------------------------------------------------ owner


async def test_owner_keeps_role_named_user_and_auto_accept(gql, org):
    lead = (await stage_ids(gql))["lead"]
    member = org.users["sales_member"]
    done = await set_work(gql, lead, owner={"departmentKey": "sales", "role": "ADMIN", "userId": to_global("User", member.id),
                                            "autoAccept": True})
    assert done["userErrors"] == []
    assert done["stage"]["owner"] == {"department": {"key": "sales"}, "role": "ADMIN", "autoAccept": True, "user": {"handle": "sales_member"}}
    assert (await stage_row(org, lead)).owner == {"departmentKey": "sales", "role": "ADMIN", "userId": member.id, "autoAccept": True}


async def test_owner_without_user_stores_none(gql, org):
    lead = (await stage_ids(gql))["lead"]
    done = await set_work(gql, lead, owner={"departmentKey": "legal", "role": "MEMBER"})
    assert done["stage"]["owner"] == {"department": {"key": "legal"}, "role": "MEMBER", "autoAccept": False, "user": None}
    assert (await stage_row(org, lead)).owner == {"departmentKey": "legal", "role": "MEMBER", "userId": None, "autoAccept": False}
    [changed] = await events(org, "PIPELINE_UPDATED")
    assert changed.changes["owner"] == [None, {"departmentKey": "legal", "role": "MEMBER", "userId": None, "autoAccept": False}]


async def test_owner_role_viewer_is_refused(gql, org):
    lead = (await stage_ids(gql))["lead"]
    assert await refused(gql, org, lead, owner={"departmentKey": "sales", "role": "VIEWER"}) == [
        (["owner.role"], "VALIDATION", "owner.role must be ADMIN, MANAGER or MEMBER")]


async def test_owner_unknown_user_is_not_found(gql, org):
    lead = (await stage_ids(gql))["lead"]
    ghost = to_global("User", 999999)
    assert await refused(gql, org, lead, owner={"departmentKey": "sales", "userId": ghost}) == [
        (["owner.userId"], "NOT_FOUND", f"No user with id {ghost!r}")]


async def test_owner_that_is_not_an_object_is_refused(gql, org):
    lead = (await stage_ids(gql))["lead"]
    stage, errors = await pipelines.set_stage_work(org.ctx("sales_admin"), {"stage_id": lead, "owner": "legal"})
    assert stage is None
    assert [(e.code, e.field, e.message) for e in errors] == [
        ("VALIDATION", ["owner"], "owner must be an object {departmentKey, role, userId, autoAccept}")]
    assert await settings(org, lead) == (None, [], False)


# ------------------------------------------------------------------ deliverables


async def test_ten_deliverables_are_allowed(gql, org):
    lead = (await stage_ids(gql))["lead"]
    done = await set_work(gql, lead, deliverables=[item(f"T{i}") for i in range(10)])
    assert done["userErrors"] == []
    assert [d["key"] for d in done["stage"]["deliverables"]] == [f"t{i}" for i in range(10)]


async def test_deliverable_field_is_kept(gql, org):
    lead = (await stage_ids(gql))["lead"]
    done = await set_work(gql, lead, deliverables=[item("Quote", "sales", field="amount"), item("Notes", "sales")])
    assert done["stage"]["deliverables"] == [
        {"key": "quote", "title": "Quote", "department": {"key": "sales"}, "field": "amount"},
        {"key": "notes", "title": "Notes", "department": {"key": "sales"}, "field": None}]
    assert (await stage_row(org, lead)).deliverables == [
        {"key": "quote", "title": "Quote", "departmentKey": "sales", "field": "amount"},
        {"key": "notes", "title": "Notes", "departmentKey": "sales", "field": None}]


async def test_deliverable_keys_from_titles_and_given_keys(gql, org):
    lead = (await stage_ids(gql))["lead"]
    done = await set_work(gql, lead, deliverables=[
        item("-- Quarterly Review! --"), item("a" * 50), item("Signed", key=" Legal-Review "), item("Forty", key="k" * 40),
        item("Blank key", key="  ")])
    assert done["userErrors"] == []
    assert [d["key"] for d in done["stage"]["deliverables"]] == ["quarterly-review", "a" * 40, "legal-review", "k" * 40, "blank-key"]


async def test_deliverable_key_longer_than_40_is_refused(gql, org):
    lead = (await stage_ids(gql))["lead"]
    assert await refused(gql, org, lead, deliverables=[item("Long", key="k" * 41)]) == [
        (["deliverables.key"], "VALIDATION", "A deliverable's key has 1 to 40 characters")]


async def test_deliverable_title_without_word_characters_has_no_key(gql, org):
    lead = (await stage_ids(gql))["lead"]
    assert await refused(gql, org, lead, deliverables=[item("!!!")]) == [
        (["deliverables.key"], "VALIDATION", "A deliverable's key has 1 to 40 characters")]


async def test_deliverable_title_blank_or_too_long_is_refused(gql, org):
    lead = (await stage_ids(gql))["lead"]
    assert await refused(gql, org, lead, deliverables=[item(" ")]) == [
        (["deliverables.title"], "VALIDATION", "deliverables.title must not be blank")]
    assert await refused(gql, org, lead, deliverables=[item("t" * 201)]) == [
        (["deliverables.title"], "VALIDATION", "deliverables.title is longer than 200 characters")]
    done = await set_work(gql, lead, deliverables=[item("t" * 200)])
    assert done["userErrors"] == [] and done["stage"]["deliverables"][0]["title"] == "t" * 200


async def test_deliverable_unknown_department_is_refused(gql, org):
    lead = (await stage_ids(gql))["lead"]
    assert await refused(gql, org, lead, deliverables=[item("Check", "hr")]) == [
        (["deliverables.departmentKey"], "VALIDATION", "Unknown department 'hr'")]


async def test_deliverables_that_are_not_objects_are_refused(gql, org):
    lead = (await stage_ids(gql))["lead"]
    ctx = org.ctx("sales_admin")
    stage, errors = await pipelines.set_stage_work(ctx, {"stage_id": lead, "deliverables": ["Quote"]})
    assert stage is None
    assert [(e.code, e.field, e.message) for e in errors] == [
        ("VALIDATION", ["deliverables"], "Each deliverable is an object {key, title, departmentKey, field}")]
    stage, errors = await pipelines.set_stage_work(ctx, {"stage_id": lead, "deliverables": {"title": "Quote"}})
    assert [(e.code, e.field, e.message) for e in errors] == [
        ("VALIDATION", ["deliverables"], "deliverables is a list of at most 10")]
    assert await settings(org, lead) == (None, [], False)


# ------------------------------------------------------------------ entering and leaving a stage


async def owned_negotiation(gql, org, **owner) -> str:
    negotiation = (await stage_ids(gql))["negotiation"]
    done = await set_work(gql, negotiation, owner={"departmentKey": "finance", **owner})
    assert done["userErrors"] == []
    return negotiation


async def test_entering_hands_the_card_to_the_named_owner_once(gql, org):
    await owned_negotiation(gql, org, userId=to_global("User", org.users["finance_member"].id))
    card = await deal(gql)
    assert (await move(gql, card["id"], "negotiation"))["userErrors"] == []
    c = await handoffs(gql, card["id"])
    assert c["department"] == {"key": "sales"}
    assert c["handoffs"] == [{"status": "PENDING", "note": "Negotiation is Finance's stage", "respondedAt": None,
                              "toDepartment": {"key": "finance"}, "requestedBy": {"handle": "sales_member"},
                              "assignee": {"handle": "finance_member"}}]
    [requested] = await events(org, "HANDOFF_REQUESTED")
    assert (requested.opportunity_id, requested.changes) == (pk(card["id"]), {"stage": "negotiation", "automatic": True})
    # Back and in again while finance has not answered: still one handoff.
    assert (await move(gql, card["id"], "proposal", as_="sales_admin"))["userErrors"] == []
    assert (await move(gql, card["id"], "negotiation"))["userErrors"] == []
    assert len((await handoffs(gql, card["id"]))["handoffs"]) == 1
    assert len(await events(org, "HANDOFF_REQUESTED")) == 1


async def test_auto_accept_passes_the_baton_at_once(gql, org, clock):
    await owned_negotiation(gql, org, autoAccept=True)
    card = await deal(gql)
    clock.advance(hours=1)
    assert (await move(gql, card["id"], "negotiation"))["userErrors"] == []
    c = await handoffs(gql, card["id"])
    assert c["department"] == {"key": "finance"}
    assert [(h["status"], h["assignee"], h["toDepartment"]) for h in c["handoffs"]] == [("ACCEPTED", None, {"key": "finance"})]
    async with org.db.read() as s:
        row = await s.scalar(select(m.Handoff).where(m.Handoff.opportunity_id == pk(card["id"])))
    assert (row.status, row.responded_at, row.responded_by_id) == ("ACCEPTED", clock.now, None)
    [resolved] = await events(org, "HANDOFF_RESOLVED")
    assert resolved.changes == {"status": ["PENDING", "ACCEPTED"], "department": ["sales", "finance"], "automatic": True}
    # Leaving with nothing pending records nothing more than the move.
    assert (await move(gql, card["id"], "proposal"))["userErrors"] == []
    assert (await events(org, "OPPORTUNITY_MOVED"))[-1].changes == {"stage": ["negotiation", "proposal"]}


async def test_entering_a_stage_the_card_s_department_owns_hands_nothing(gql, org):
    await owned_negotiation(gql, org)
    await set_work(gql, (await stage_ids(gql))["negotiation"], owner={"departmentKey": "sales", "autoAccept": True})
    card = await deal(gql)
    assert (await move(gql, card["id"], "negotiation"))["userErrors"] == []
    assert (await handoffs(gql, card["id"]))["handoffs"] == []
    assert await events(org, "HANDOFF_REQUESTED") == []


async def test_leaving_with_the_owner_s_handoff_pending_is_for_managers(gql, org):
    await owned_negotiation(gql, org)
    card = await deal(gql)
    await move(gql, card["id"], "negotiation")
    refused = await move(gql, card["id"], "proposal")
    assert refused["userErrors"] == [{"field": ["stageKey"], "code": "FORBIDDEN", "message":
                                      "Negotiation's handoff to finance is unanswered: only the owner's manager or an admin can move the card on"}]
    assert (await handoffs(gql, card["id"]))["stage"] == {"key": "negotiation"}
    assert (await move(gql, card["id"], "proposal", as_="sales_manager"))["userErrors"] == []
    assert (await events(org, "OPPORTUNITY_MOVED"))[-1].changes == {"stage": ["negotiation", "proposal"], "leftWithPendingHandoff": "finance"}


async def test_a_pending_handoff_to_another_department_does_not_hold_the_card(gql, org):
    card = await deal(gql)
    await set_work(gql, (await stage_ids(gql))["lead"], owner={"departmentKey": "finance"})
    asked = await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=card["id"], toDepartmentKey="product")
    assert asked["userErrors"] == []
    moved = await move(gql, card["id"], "qualified")
    assert moved["userErrors"] == []
    assert (await events(org, "OPPORTUNITY_MOVED"))[-1].changes == {"stage": ["lead", "qualified"]}


async def test_leaving_after_the_owner_accepted_is_free(gql, org):
    await owned_negotiation(gql, org)
    card = await deal(gql)
    await move(gql, card["id"], "negotiation")
    handoff = (await gql.ok("query($id: ID!) { node(id: $id) { ... on Opportunity { handoffs { id } } } }", {"id": card["id"]}))["node"]["handoffs"][0]
    await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="finance_member", id=handoff["id"], accept=True)
    assert (await move(gql, card["id"], "proposal"))["userErrors"] == []
    assert (await events(org, "OPPORTUNITY_MOVED"))[-1].changes == {"stage": ["negotiation", "proposal"]}


# ------------------------------------------------------------------ gates and ticks


async def lead_work(gql, **extra) -> dict:
    ids = await stage_ids(gql)
    done = await set_work(gql, ids["lead"], deliverables=[item("Brief", key="brief"), item("Budget", "sales", key="budget", field="nextStep")])
    assert done["userErrors"] == []
    await set_work(gql, ids["qualified"], requirePreviousDeliverables=True)
    return ids


async def test_a_gate_lists_the_previous_stage_s_unticked_deliverables(gql, org):
    await lead_work(gql)
    card, other = await deal(gql), await deal(gql, title="Other")
    refused = await move(gql, card["id"], "qualified")
    assert refused["userErrors"] == [{"field": ["deliverable:lead.brief", "deliverable:lead.budget"], "code": "STAGE_GATE",
                                      "message": "Qualified needs these deliverables ticked first (Lead: Brief, Budget)"}]
    assert (await check(gql, card["id"], "brief", "legal_member", stage="lead"))["userErrors"] == []
    skipping = await move(gql, card["id"], "proposal")
    assert skipping["userErrors"] == [{"field": ["deliverable:lead.budget"], "code": "STAGE_GATE",
                                       "message": "Proposal needs these deliverables ticked first (Lead: Budget)"}]
    # Another card's ticks are its own.
    assert (await move(gql, other["id"], "qualified"))["userErrors"][0]["field"] == ["deliverable:lead.brief", "deliverable:lead.budget"]
    # Lost is never gated.
    assert (await move(gql, other["id"], "lost", lostReason="Budget"))["userErrors"] == []


async def test_a_card_created_past_a_gate_needs_every_deliverable(gql, org):
    await lead_work(gql)
    made = await create_in(gql, "qualified")
    assert made["userErrors"] == [{"field": ["deliverable:lead.brief", "deliverable:lead.budget"], "code": "STAGE_GATE",
                                   "message": "Qualified needs these deliverables ticked first (Lead: Brief, Budget)"}]


async def test_the_first_stage_has_no_previous_stage_to_wait_for(gql, org):
    ids = await stage_ids(gql)
    await set_work(gql, ids["lead"], requirePreviousDeliverables=True)
    await set_work(gql, ids["won"], deliverables=[item("Handover", key="handover")])
    card = await deal(gql)
    assert (await move(gql, card["id"], "qualified"))["userErrors"] == []
    assert (await move(gql, card["id"], "lead"))["userErrors"] == []


async def test_a_stage_after_lost_needs_won_s_deliverables(gql, org):
    ids = await stage_ids(gql)
    pipeline = (await gql.ok("{ pipelines { id } }"))["pipelines"][0]["id"]
    made = (await gql.ok("""mutation($input: CreateStageInput!) { createStage(input: $input) { stage { id } } }""",
                         {"input": {"pipelineId": pipeline, "key": "aftercare", "kind": "OPEN"}}, as_="sales_admin"))["createStage"]["stage"]
    await set_work(gql, made["id"], requirePreviousDeliverables=True)
    await set_work(gql, ids["lost"], deliverables=[item("Exit note", key="exit-note")])
    await set_work(gql, ids["won"], deliverables=[item("Handover", key="handover")], requirePreviousDeliverables=False)
    await set_work(gql, ids["contract"], deliverables=[])
    await gql.ok("""mutation($input: UpdateStageInput!) { updateStage(input: $input) { userErrors { code } } }""",
                 {"input": {"id": ids["contract"], "requiredApprovals": [], "autoApproval": None}}, as_="sales_admin")
    card = await deal(gql)
    assert (await move(gql, card["id"], "lost", lostReason="Budget"))["userErrors"] == []
    refused = await move(gql, card["id"], "aftercare", as_="sales_admin")
    assert refused["userErrors"] == [{"field": ["deliverable:won.handover"], "code": "STAGE_GATE",
                                      "message": "Aftercare needs these deliverables ticked first (Won: Handover)"}]


async def create_in(gql, stage) -> dict:
    doc = """mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) { opportunity { id } userErrors { field code message } } }"""
    return (await gql.ok(doc, {"input": {"title": "Direct", "accountName": "Northwind", "stageKey": stage}}))["createOpportunity"]


async def test_ticking_is_for_the_deliverable_s_department_or_an_admin(gql, org):
    await lead_work(gql)
    card = await deal(gql)
    refused = await check(gql, card["id"], "brief", "sales_member", stage="lead")
    assert refused["userErrors"] == [{"field": None, "code": "FORBIDDEN", "message": "Only Legal (or an admin) ticks “Brief”"}]
    assert (await check(gql, card["id"], "brief", "sales_admin", stage="lead"))["userErrors"] == []
    assert [(e.actor_id, e.changes) for e in await events(org, "DELIVERABLE_CHECKED")] == [
        (org.users["sales_admin"].id, {"stage": "lead", "deliverable": "brief", "title": "Brief", "done": [False, True]})]


async def test_ticking_needs_the_field_and_unticking_does_not(gql, org):
    await lead_work(gql)
    card = await deal(gql)
    refused = await check(gql, card["id"], "budget", "sales_member", stage="lead")
    assert refused["userErrors"] == [{"field": ["nextStep"], "code": "VALIDATION", "message": "Fill in nextStep before ticking “Budget”"}]
    assert (await check(gql, card["id"], "budget", "sales_member", done=False, stage="lead"))["userErrors"] == []
    assert await events(org, "DELIVERABLE_CHECKED") == []


async def test_tick_and_untick_record_the_row_the_event_and_the_owner_s_inbox(gql, org, clock):
    await lead_work(gql)
    card = await deal(gql)
    clock.advance(hours=1)
    ticked = await check(gql, card["id"], "brief", "legal_member", stage="lead")
    assert ticked["userErrors"] == []
    checklist = (await gql.ok(CHECKLIST, {"id": card["id"]}))["node"]["checklist"]
    assert checklist[0] == {"key": "brief", "done": True, "doneAt": clock.now.isoformat(), "doneBy": {"handle": "legal_member"}}
    [event] = await events(org, "DELIVERABLE_CHECKED")
    assert (event.opportunity_id, event.actor_id) == (pk(card["id"]), org.users["legal_member"].id)
    assert "legal" in event.department_keys
    clock.advance(hours=1)
    unticked = await check(gql, card["id"], "brief", "legal_member", done=False, stage="lead")
    assert unticked["userErrors"] == [] and unticked["opportunity"]["checklist"][0]["done"] is False
    async with org.db.read() as s:
        assert (await s.execute(select(m.DeliverableCheck).where(m.DeliverableCheck.opportunity_id == pk(card["id"])))).all() == []
    assert [e.changes["done"] for e in await events(org, "DELIVERABLE_CHECKED")] == [[False, True], [True, False]]
    notes = [(e["node"]["kind"], e["node"]["message"], e["node"]["opportunity"]["id"]) for e in (await inbox(gql, "sales_member"))["edges"]]
    assert notes[:2] == [("deliverable", "Legal Member unticked “Brief” on Fleet pilot", card["id"]),
                         ("deliverable", "Legal Member ticked “Brief” on Fleet pilot", card["id"])]
    assert (await inbox(gql, "legal_member"))["edges"] == []
    # Unticking what is not ticked records nothing; another card's tick is its own.
    await check(gql, card["id"], "brief", "legal_member", done=False, stage="lead")
    assert len(await events(org, "DELIVERABLE_CHECKED")) == 2
    other = await deal(gql, title="Other")
    await check(gql, card["id"], "brief", "legal_member", stage="lead")
    assert (await check(gql, other["id"], "brief", "legal_member", stage="lead"))["opportunity"]["checklist"][0]["done"] is True
    assert [e.opportunity_id for e in await events(org, "DELIVERABLE_CHECKED")][2:] == [pk(card["id"]), pk(other["id"])]


async def test_unknown_stage_or_deliverable_is_not_found(gql, org):
    await lead_work(gql)
    card = await deal(gql)
    nope = await check(gql, card["id"], "brief", "legal_member", stage="nope")
    assert nope["userErrors"] == [{"field": ["stageKey"], "code": "NOT_FOUND", "message": "No stage 'nope' in the card's pipeline"}]
    missing = await check(gql, card["id"], "nope", "legal_member", stage="lead")
    assert missing["userErrors"] == [{"field": ["key"], "code": "NOT_FOUND", "message": "Lead has no deliverable 'nope'"}]


async def test_earlier_stages_and_a_lost_card_s_stages_can_be_ticked(gql, org):
    await lead_work(gql)
    pipeline = (await gql.ok("{ pipelines { id } }"))["pipelines"][0]["id"]
    made = (await gql.ok("""mutation($input: CreateStageInput!) { createStage(input: $input) { stage { id position } } }""",
                         {"input": {"pipelineId": pipeline, "key": "aftercare", "kind": "OPEN"}}, as_="sales_admin"))["createStage"]["stage"]
    assert made["position"] == 7  # after Lost
    await set_work(gql, made["id"], deliverables=[item("Survey", key="brief")])
    card = await deal(gql)
    await check(gql, card["id"], "brief", "legal_member", stage="lead")
    await gql.ok("""mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) { userErrors { code } } }""",
                 {"input": {"id": card["id"], "version": card["version"], "nextStep": "Call back"}})
    assert (await check(gql, card["id"], "budget", "sales_member", stage="lead"))["userErrors"] == []
    assert (await move(gql, card["id"], "qualified"))["userErrors"] == []
    assert (await check(gql, card["id"], "budget", "sales_member", done=False, stage="lead"))["userErrors"] == []
    assert (await move(gql, card["id"], "lost", lostReason="Budget"))["userErrors"] == []
    assert (await check(gql, card["id"], "brief", "legal_member", stage="aftercare"))["userErrors"] == []
    assert (await events(org, "DELIVERABLE_CHECKED"))[-1].changes == {
        "stage": "aftercare", "deliverable": "brief", "title": "Survey", "done": [False, True]}


# ------------------------------------------------------------------ time in stage


async def times(gql, gid) -> dict:
    found = (await gql.ok(TIMES, {"id": gid}))["node"]["stageTimes"]
    return {t["stageKey"]: (t["hours"], {d["department"]["key"]: d["hours"] for d in t["departments"]}) for t in found}


async def test_time_counts_lost_and_revisited_stages(gql, org, clock):
    card = await deal(gql)
    clock.advance(hours=2)
    await move(gql, card["id"], "qualified")
    clock.advance(hours=1)
    await move(gql, card["id"], "lost", lostReason="Budget")
    clock.advance(minutes=30)
    await move(gql, card["id"], "lead", as_="sales_admin")
    clock.advance(hours=1)
    assert await times(gql, card["id"]) == {"lead": (3.0, {"sales": 3.0}), "qualified": (1.0, {"sales": 1.0}), "lost": (0.5, {"sales": 0.5})}
    assert list(await times(gql, card["id"])) == ["lead", "qualified", "lost"]


async def test_a_card_that_never_moved_shows_its_first_stage(gql, org, clock):
    card = await deal(gql)
    clock.advance(hours=2)
    assert await times(gql, card["id"]) == {"lead": (2.0, {"sales": 2.0})}


async def test_a_baton_passed_on_entry_leaves_no_empty_span(gql, org, clock):
    await owned_negotiation(gql, org, autoAccept=True)
    card = await deal(gql)
    clock.advance(hours=1)
    await move(gql, card["id"], "negotiation")
    clock.advance(hours=2)
    assert await times(gql, card["id"]) == {"lead": (1.0, {"sales": 1.0}), "negotiation": (2.0, {"finance": 2.0})}


T0 = datetime(2031, 1, 1, 9, 0, tzinfo=timezone.utc)


def event(type_, hours, **changes) -> m.Event:
    return m.Event(type=type_, occurred_at=T0 + timedelta(hours=hours), changes=changes)


def test_a_card_that_never_moved_spent_its_time_where_it_is():
    assert time_in_stages(T0, T0 + timedelta(hours=2), "lead", "sales", []) == {"lead": {"sales": 7200.0}}


def test_time_follows_moves_and_passes_in_time_order():
    events = [
        event("HANDOFF_RESOLVED", 1, status=["PENDING", "ACCEPTED"], department=["sales", "product"]),
        event("OPPORTUNITY_MOVED", 2, stage=["lead", "qualified"]),
        event("HANDOFF_RESOLVED", 2.5, status=["PENDING", "DECLINED"]),
        event("OPPORTUNITY_MOVED", 3, stage=["qualified", "lead"]),
        event("OPPORTUNITY_MOVED", 3, stage=["lead", "negotiation"]),
        event("HANDOFF_RESOLVED", 3.5, status=["PENDING", "ACCEPTED"], department=["product", "finance"]),
    ]
    assert time_in_stages(T0, T0 + timedelta(hours=4), "negotiation", "finance", events) == {
        "lead": {"sales": 3600.0, "product": 3600.0}, "qualified": {"product": 3600.0},
        "negotiation": {"product": 1800.0, "finance": 1800.0}}
