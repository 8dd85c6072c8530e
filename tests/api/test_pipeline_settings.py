"""Pipeline without code (issue 24): admins reorder, archive (moving the cards out) and
restore stages, and preview what a gate change does; each change is one PIPELINE_UPDATED
event, refusals write nothing."""
from sqlalchemy import select

from db import models as m
from tests.api.workflow_helpers import create, events, move, opp, pk

STAGES = "{ pipelines { id stages { id key name position kind archived } archivedStages { id key archived } } }"
BOARD = "{ board { columns { stage { key } totalCount } } }"
REORDER = """mutation($input: ReorderStagesInput!) { reorderStages(input: $input) {
  stages { key position } userErrors { field code message } } }"""
ARCHIVE = """mutation($input: ArchiveStageInput!) { archiveStage(input: $input) {
  stage { key archived } movedCount userErrors { field code message } } }"""
RESTORE = """mutation($input: StageIdInput!) { restoreStage(input: $input) {
  stage { key position archived } userErrors { field code message } } }"""
CREATE_STAGE = """mutation($input: CreateStageInput!) { createStage(input: $input) { stage { id key } userErrors { code } } }"""
PREVIEW = """query($input: UpdateStageInput!) { previewStageChange(input: $input) {
  cardsInStage cardsFailingGate cardsNewlyFailing summary } }"""
DEFAULT_ORDER = ["lead", "qualified", "proposal", "negotiation", "contract", "won", "lost"]


async def pipeline(gql, as_="sales_admin"):
    found = (await gql.ok(STAGES, as_=as_))["pipelines"][0]
    return found, {s["key"]: s for s in found["stages"] + found["archivedStages"]}


async def pipeline_events(org, after: int) -> list[tuple[str, dict]]:
    return [(e.type, e.changes) for e in await events(org) if e.seq > after]


async def head(org) -> int:
    found = await events(org)
    return found[-1].seq if found else 0


async def column_keys(gql) -> list[str]:
    return [c["stage"]["key"] for c in (await gql.ok(BOARD))["board"]["columns"]]


# ------------------------------------------------------------------ reorder


async def test_reorder_rewrites_positions_with_one_event(gql, org):
    found, by_key = await pipeline(gql)
    order = ["qualified", "lead", "proposal", "contract", "negotiation", "won", "lost"]
    start = await head(org)
    done = (await gql.ok(REORDER, {"input": {"pipelineId": found["id"], "stageIds": [by_key[k]["id"] for k in order]}},
                         as_="sales_admin"))["reorderStages"]
    assert done["userErrors"] == []
    assert done["stages"] == [{"key": k, "position": i} for i, k in enumerate(order)]
    assert await pipeline_events(org, start) == [("PIPELINE_UPDATED", {"order": [DEFAULT_ORDER, order]})]
    # Everyone's board and stage list follow the new positions.
    assert await column_keys(gql) == order
    assert [s["key"] for s in (await pipeline(gql, as_="marketing_member"))[0]["stages"]] == order
    # The same order again changes nothing and appends nothing.
    again = (await gql.ok(REORDER, {"input": {"pipelineId": found["id"], "stageIds": [by_key[k]["id"] for k in order]}},
                          as_="sales_admin"))["reorderStages"]
    assert again["userErrors"] == [] and [s["key"] for s in again["stages"]] == order
    assert len(await pipeline_events(org, start)) == 1


async def test_reorder_needs_every_unarchived_stage_once(gql, org):
    found, by_key = await pipeline(gql)
    ids = [by_key[k]["id"] for k in DEFAULT_ORDER]
    start = await head(org)

    async def refused(stage_ids, as_="sales_admin"):
        return (await gql.ok(REORDER, {"input": {"pipelineId": found["id"], "stageIds": stage_ids}}, as_=as_))["reorderStages"]

    missing = await refused(ids[1:])
    assert [(e["code"], e["field"]) for e in missing["userErrors"]] == [("VALIDATION", ["stageIds"])]
    assert "lead" in missing["userErrors"][0]["message"] and missing["stages"] == []
    twice = await refused(ids + ids[:1])
    assert [e["code"] for e in twice["userErrors"]] == ["VALIDATION"] and "lead" in twice["userErrors"][0]["message"]
    extra = await refused(ids + ["U3RhZ2U6OTk5OTk5"])  # Stage:999999, not this pipeline's
    assert [e["field"] for e in extra["userErrors"]] == [["stageIds"]] and "U3RhZ2U6OTk5OTk5" in extra["userErrors"][0]["message"]
    both = await refused(ids[1:] + ["nonsense"])
    assert len(both["userErrors"]) == 2  # every problem at once
    assert [e["code"] for e in (await refused(list(reversed(ids)), as_="sales_manager"))["userErrors"]] == ["FORBIDDEN"]
    nowhere = (await gql.ok(REORDER, {"input": {"pipelineId": "UGlwZWxpbmU6OTk5OTk5", "stageIds": ids}}, as_="sales_admin"))["reorderStages"]
    assert [(e["code"], e["field"]) for e in nowhere["userErrors"]] == [("NOT_FOUND", ["pipelineId"])]
    assert await pipeline_events(org, start) == []
    assert await column_keys(gql) == DEFAULT_ORDER


# ------------------------------------------------------------------ archive and restore


async def test_archiving_an_empty_stage(gql, org):
    _, by_key = await pipeline(gql)
    start = await head(org)
    done = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["negotiation"]["id"]}}, as_="sales_admin"))["archiveStage"]
    assert done == {"stage": {"key": "negotiation", "archived": True}, "movedCount": 0, "userErrors": []}
    assert await pipeline_events(org, start) == [
        ("PIPELINE_UPDATED", {"stage": [None, "negotiation"], "archived": [False, True]})]
    found, after = await pipeline(gql)
    assert [s["key"] for s in found["stages"]] == ["lead", "qualified", "proposal", "contract", "won", "lost"]
    assert [s["position"] for s in found["stages"]] == list(range(6))
    assert found["archivedStages"] == [{"id": by_key["negotiation"]["id"], "key": "negotiation", "archived": True}]
    assert "negotiation" not in await column_keys(gql)
    again = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["negotiation"]["id"]}}, as_="sales_admin"))["archiveStage"]
    assert [e["code"] for e in again["userErrors"]] == ["VALIDATION"] and again["movedCount"] == 0


async def test_archiving_moves_the_cards_out_in_the_same_step(gql, org):
    _, by_key = await pipeline(gql)
    cards = [await create(gql, title=f"Deal {i}") for i in range(2)]
    for card in cards:
        assert (await move(gql, card["id"], "qualified"))["userErrors"] == []
    elsewhere = await create(gql, title="Stays in lead")
    versions = {c["id"]: (await opp(gql, c["id"]))["version"] for c in cards}
    start = await head(org)

    # Cards inside: a destination is required, and must be another unarchived stage of the pipeline.
    bare = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["qualified"]["id"]}}, as_="sales_admin"))["archiveStage"]
    assert [(e["code"], e["field"]) for e in bare["userErrors"]] == [("VALIDATION", ["moveCardsToStageId"])]
    itself = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["qualified"]["id"], "moveCardsToStageId": by_key["qualified"]["id"]}},
                           as_="sales_admin"))["archiveStage"]
    assert [(e["code"], e["field"]) for e in itself["userErrors"]] == [("VALIDATION", ["moveCardsToStageId"])]
    member = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["qualified"]["id"], "moveCardsToStageId": by_key["proposal"]["id"]}},
                           as_="sales_member"))["archiveStage"]
    assert [e["code"] for e in member["userErrors"]] == ["FORBIDDEN"]
    assert await pipeline_events(org, start) == []

    # Into Proposal, whose gate (amount, expected close date) the cards do not pass: an admin's decision.
    done = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["qualified"]["id"], "moveCardsToStageId": by_key["proposal"]["id"]}},
                         as_="sales_admin"))["archiveStage"]
    assert done == {"stage": {"key": "qualified", "archived": True}, "movedCount": 2, "userErrors": []}
    for card in cards:
        now = await opp(gql, card["id"])
        assert now["stage"]["key"] == "proposal" and now["version"] == versions[card["id"]] + 1
    assert (await opp(gql, elsewhere["id"]))["stage"]["key"] == "lead"
    log = [(e.type, e.opportunity_id, e.changes) for e in await events(org) if e.seq > start]
    moves = [entry for entry in log if entry[0] == "OPPORTUNITY_MOVED"]
    assert sorted(moves, key=lambda e: e[1]) == sorted(
        [("OPPORTUNITY_MOVED", pk(c["id"]), {"stage": ["qualified", "proposal"]}) for c in cards], key=lambda e: e[1])
    assert log[-1] == ("PIPELINE_UPDATED", None, {"stage": [None, "qualified"], "archived": [False, True], "movedTo": [None, "proposal"]})
    async with org.db.read() as s:
        rows = (await s.execute(select(m.Opportunity).where(m.Opportunity.id.in_([pk(c["id"]) for c in cards])))).scalars().all()
    assert {row.stage_entered_at for row in rows} and all(row.stage_entered_at is not None for row in rows)

    # The board and the stage lists no longer show it; nobody can move a card into it.
    columns = (await gql.ok(BOARD))["board"]["columns"]
    assert [c["stage"]["key"] for c in columns] == ["lead", "proposal", "negotiation", "contract", "won", "lost"]
    assert next(c for c in columns if c["stage"]["key"] == "proposal")["totalCount"] == 2
    refused = await move(gql, elsewhere["id"], "qualified")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("VALIDATION", ["stageKey"])]
    assert (await move(gql, elsewhere["id"], "qualified", as_="sales_admin"))["userErrors"][0]["code"] == "VALIDATION"
    into_archived = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["lead"]["id"], "moveCardsToStageId": by_key["qualified"]["id"]}},
                                  as_="sales_admin"))["archiveStage"]
    assert [(e["code"], e["field"]) for e in into_archived["userErrors"]] == [("VALIDATION", ["moveCardsToStageId"])]


async def test_a_pipeline_keeps_an_open_a_won_and_a_lost_stage(gql, org):
    found, by_key = await pipeline(gql)
    start = await head(org)
    for kind in ("won", "lost"):
        refused = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key[kind]["id"]}}, as_="sales_admin"))["archiveStage"]
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("VALIDATION", ["stageId"])], kind
        assert f"only {kind} stage" in refused["userErrors"][0]["message"]
    for key in ["lead", "qualified", "proposal", "negotiation"]:
        done = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key[key]["id"]}}, as_="sales_admin"))["archiveStage"]
        assert done["userErrors"] == [], key
    last = (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["contract"]["id"]}}, as_="sales_admin"))["archiveStage"]
    assert [(e["code"], e["field"]) for e in last["userErrors"]] == [("VALIDATION", ["stageId"])]
    assert "last open stage" in last["userErrors"][0]["message"]
    assert [t for t, _ in await pipeline_events(org, start)] == ["PIPELINE_UPDATED"] * 4
    # A second won stage makes the first one archivable.
    made = (await gql.ok(CREATE_STAGE, {"input": {"pipelineId": found["id"], "key": "won_renewal", "kind": "WON"}}, as_="sales_admin"))["createStage"]
    assert made["userErrors"] == []
    assert (await gql.ok(ARCHIVE, {"input": {"stageId": by_key["won"]["id"]}}, as_="sales_admin"))["archiveStage"]["userErrors"] == []


async def test_restoring_puts_a_stage_back_after_the_open_stages(gql, org):
    _, by_key = await pipeline(gql)
    await gql.ok(ARCHIVE, {"input": {"stageId": by_key["qualified"]["id"]}}, as_="sales_admin")
    start = await head(org)
    done = (await gql.ok(RESTORE, {"input": {"id": by_key["qualified"]["id"]}}, as_="sales_admin"))["restoreStage"]
    assert done == {"stage": {"key": "qualified", "position": 4, "archived": False}, "userErrors": []}
    assert await pipeline_events(org, start) == [
        ("PIPELINE_UPDATED", {"stage": [None, "qualified"], "archived": [True, False], "position": [6, 4]})]
    assert await column_keys(gql) == ["lead", "proposal", "negotiation", "contract", "qualified", "won", "lost"]
    found, _ = await pipeline(gql)
    assert found["archivedStages"] == [] and [s["position"] for s in found["stages"]] == list(range(7))
    # Cards may enter it again, through the gates of the stages now before it.
    deal = await create(gql)
    assert (await move(gql, deal["id"], "qualified"))["userErrors"][0]["code"] == "STAGE_GATE"
    again = (await gql.ok(RESTORE, {"input": {"id": by_key["qualified"]["id"]}}, as_="sales_admin"))["restoreStage"]
    assert [(e["code"], e["field"]) for e in again["userErrors"]] == [("VALIDATION", ["id"])]
    denied = (await gql.ok(RESTORE, {"input": {"id": by_key["qualified"]["id"]}}, as_="sales_manager"))["restoreStage"]
    assert [e["code"] for e in denied["userErrors"]] == ["FORBIDDEN"]


# ------------------------------------------------------------------ preview


async def prepared_proposal(gql) -> dict:
    """Proposal with three cards without a probability and one with it."""
    for i in range(3):
        await create(gql, title=f"No probability {i}", stageKey="proposal", amount="10", expectedCloseDate="2030-01-31")
    await create(gql, title="With probability", stageKey="proposal", amount="10", expectedCloseDate="2030-01-31", probability=40)
    return (await pipeline(gql))[1]


async def test_preview_counts_the_cards_a_gate_change_would_stop(gql, org, client):
    by_key = await prepared_proposal(gql)
    proposal = by_key["proposal"]["id"]
    start = await head(org)
    preview = (await gql.ok(PREVIEW, {"input": {"id": proposal, "requiredFields": ["amount", "expectedCloseDate", "probability"]}},
                            as_="sales_admin"))["previewStageChange"]
    assert preview == {"cardsInStage": 4, "cardsFailingGate": 3, "cardsNewlyFailing": 3,
                       "summary": "3 cards in Proposal would no longer pass the gate"}
    chinese = await client.post("/graphql", json={"query": PREVIEW, "variables": {"input": {"id": proposal, "requiredFields": ["probability"]}}},
                                headers={"authorization": f"Bearer {org.tokens['sales_admin']}", "accept-language": "zh-CN"})
    assert chinese.json()["data"]["previewStageChange"]["summary"] == "Proposal中有 3 张卡片将不再满足进入条件"
    # Nothing was written: the gate and the log are as they were.
    assert (await pipeline(gql))[1]["proposal"] == by_key["proposal"]
    assert await pipeline_events(org, start) == []

    one = await create(gql, title="Also no probability", stageKey="negotiation", amount="10", expectedCloseDate="2030-01-31")
    single = (await gql.ok(PREVIEW, {"input": {"id": by_key["negotiation"]["id"], "requiredFields": ["probability"]}},
                           as_="sales_admin"))["previewStageChange"]
    assert single == {"cardsInStage": 1, "cardsFailingGate": 1, "cardsNewlyFailing": 1,
                      "summary": "1 card in Negotiation would no longer pass the gate"}
    assert one
    # Cards already failing are not "newly" failing; loosening the gate affects no card.
    lead = await create(gql, title="Lead without amount")
    stricter = (await gql.ok(PREVIEW, {"input": {"id": proposal, "requiredFields": ["amount"]}}, as_="sales_admin"))["previewStageChange"]
    assert stricter == {"cardsInStage": 4, "cardsFailingGate": 0, "cardsNewlyFailing": 0, "summary": "No card in Proposal is affected"}
    approvals = (await gql.ok(PREVIEW, {"input": {"id": proposal, "requiredApprovals": ["discount"]}}, as_="sales_admin"))["previewStageChange"]
    assert approvals["cardsFailingGate"] == 4 and approvals["cardsNewlyFailing"] == 4
    assert lead


async def test_preview_is_for_admins_and_refuses_what_update_stage_would(gql, org):
    _, by_key = await pipeline(gql)
    forbidden = await gql(PREVIEW, {"input": {"id": by_key["proposal"]["id"], "requiredFields": ["probability"]}}, as_="sales_member")
    assert forbidden["data"] is None and forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await gql(PREVIEW, {"input": {"id": by_key["proposal"]["id"], "requiredFields": ["colour"], "staleAfterHours": 0}}, as_="sales_admin")
    assert bad["data"] is None
    assert bad["errors"][0]["extensions"] == {"code": "VALIDATION", "fields": ["requiredFields", "staleAfterHours"]}
    assert "colour" in bad["errors"][0]["message"]
    unknown = await gql(PREVIEW, {"input": {"id": "U3RhZ2U6OTk5OTk5", "requiredFields": []}}, as_="sales_admin")
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
