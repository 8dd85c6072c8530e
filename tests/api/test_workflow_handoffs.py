"""Handoffs pass the baton between departments."""
import asyncio

from resolvers import handoffs
from resolvers.ids import to_global
from tests.api.workflow_helpers import (
    CANCEL_HANDOFF, REQUEST_HANDOFF, RESPOND_HANDOFF, create, event_count, events, inbox, move, mutate, opp, pk,
    set_stage,
)


async def request(gql, gid, to="legal", as_="sales_member", **extra):
    return await mutate(gql, REQUEST_HANDOFF, "requestHandoff", as_=as_, opportunityId=gid, toDepartmentKey=to, **extra)


async def test_accept_moves_the_baton_and_bumps_version(gql, org):
    deal = await create(gql)
    req = await request(gql, deal["id"], note="Please review the MSA", assigneeId=_uid(org, "legal_member"))
    assert req["userErrors"] == []
    h = req["handoff"]
    assert (h["status"], h["fromDepartment"]["key"], h["toDepartment"]["key"], h["assignee"]["handle"]) == ("PENDING", "sales", "legal", "legal_member")
    assert (h["note"], h["responseNote"], h["respondedAt"]) == ("Please review the MSA", None, None)
    # The receiving department hears about it; the assignee is told it is theirs.
    kinds = sorted(e["node"]["kind"] for e in (await inbox(gql, "legal_member"))["edges"])
    assert kinds == ["assigned", "handoff"]
    assert [e["node"]["kind"] for e in (await inbox(gql, "legal_manager"))["edges"]] == ["handoff"]
    assert (await inbox(gql, "finance_member"))["totalCount"] == 0

    done = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_manager", id=h["id"], accept=True)
    assert done["userErrors"] == []
    assert done["handoff"]["status"] == "ACCEPTED" and done["handoff"]["respondedAt"]
    assert done["handoff"]["opportunity"] == {"version": 2, "department": {"key": "legal"}}
    resolved = (await events(org, "HANDOFF_RESOLVED"))[-1]
    assert resolved.changes == {"status": ["PENDING", "ACCEPTED"], "department": ["sales", "legal"]}
    assert [e.type for e in await events(org)] == ["OPPORTUNITY_CREATED", "HANDOFF_REQUESTED", "HANDOFF_RESOLVED"]
    assert [e["node"]["kind"] for e in (await inbox(gql, "sales_member"))["edges"]] == ["handoff"]


async def test_decline_keeps_the_department_and_records_the_reason(gql):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    done = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=h["id"], accept=False, note="Not ours yet")
    assert done["handoff"]["status"] == "DECLINED" and done["handoff"]["responseNote"] == "Not ours yet"
    assert done["handoff"]["opportunity"] == {"version": 1, "department": {"key": "sales"}}
    again = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=h["id"], accept=True)
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_only_receiving_department_or_admin_responds(gql, org):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    before = await event_count(org)
    for who in ("sales_member", "finance_member", "sales_manager"):
        result = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_=who, id=h["id"], accept=True)
        assert result["handoff"] is None and result["userErrors"][0]["code"] == "FORBIDDEN", who
    assert await event_count(org) == before
    assert (await opp(gql, deal["id"]))["department"]["key"] == "sales"
    ok = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="sales_admin", id=h["id"], accept=True)
    assert ok["userErrors"] == [] and ok["handoff"]["opportunity"]["department"]["key"] == "legal"


async def test_the_owners_manager_hands_on_a_card_another_department_holds(gql, org):
    deal = await create(gql)  # sales_member owns it
    h = (await request(gql, deal["id"]))["handoff"]
    await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_manager", id=h["id"], accept=True)
    # Legal holds it now: a marketing member is no one to it, the owner's manager still is.
    refused = await request(gql, deal["id"], to="finance", as_="marketing_member")
    assert refused["handoff"] is None and refused["userErrors"][0]["code"] == "FORBIDDEN"
    onward = await request(gql, deal["id"], to="finance", as_="sales_manager")
    assert onward["userErrors"] == []
    assert (onward["handoff"]["fromDepartment"]["key"], onward["handoff"]["toDepartment"]["key"]) == ("legal", "finance")


async def test_duplicate_pending_and_same_department_are_refused(gql, org):
    deal = await create(gql)
    assert (await request(gql, deal["id"]))["userErrors"] == []
    before = await event_count(org)
    dup = await request(gql, deal["id"])
    assert dup["handoff"] is None
    assert dup["userErrors"] == [{"field": ["toDepartmentKey"], "code": "DUPLICATE", "message": "A handoff to Legal is already pending"}]
    same = await request(gql, deal["id"], to="sales")
    assert same["userErrors"][0]["code"] == "VALIDATION" and same["userErrors"][0]["field"] == ["toDepartmentKey"]
    unknown = await request(gql, deal["id"], to="nope")
    assert unknown["userErrors"][0]["code"] == "VALIDATION"
    wrong_assignee = await request(gql, deal["id"], to="finance", assigneeId=_uid(org, "legal_member"))
    assert wrong_assignee["userErrors"][0]["field"] == ["assigneeId"]
    assert await event_count(org) == before
    # A different target department is fine, and so is the same one for another card.
    assert (await request(gql, deal["id"], to="finance"))["userErrors"] == []
    assert (await request(gql, (await create(gql))["id"]))["userErrors"] == []


async def test_requester_cancels(gql):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    other = await mutate(gql, CANCEL_HANDOFF, "cancelHandoff", as_="legal_member", id=h["id"])
    assert other["userErrors"][0]["code"] == "FORBIDDEN"
    done = await mutate(gql, CANCEL_HANDOFF, "cancelHandoff", id=h["id"])
    assert done["handoff"]["status"] == "CANCELLED"
    # Cancelled: a new one may be requested.
    assert (await request(gql, deal["id"]))["userErrors"] == []


def _messages(box: dict) -> list[str]:
    return [e["node"]["message"] for e in box["edges"]]


async def test_every_party_is_told_in_words(gql, org):
    deal = await create(gql)
    h = (await request(gql, deal["id"], assigneeId=_uid(org, "legal_member")))["handoff"]
    assert sorted(_messages(await inbox(gql, "legal_member"))) == [
        "Sales Member assigned you the handoff of Fleet pilot", "Sales Member hands Fleet pilot from Sales to Legal",
    ]
    [requested] = await events(org, "HANDOFF_REQUESTED")
    assert (requested.changes, sorted(requested.department_keys)) == (None, ["legal", "sales"])
    assert (requested.opportunity_id, requested.handoff_id) == (pk(deal["id"]), pk(h["id"]))
    await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_manager", id=h["id"], accept=False, note="Not ours yet")
    assert _messages(await inbox(gql, "sales_member")) == ["Legal Manager declined the handoff of Fleet pilot: Not ours yet"]
    for who in ("legal_member", "sales_member"):
        assert {e["node"]["opportunity"]["id"] for e in (await inbox(gql, who))["edges"]} == {deal["id"]}
    [declined] = await events(org, "HANDOFF_RESOLVED")
    assert (declined.changes, sorted(declined.department_keys)) == ({"status": ["PENDING", "DECLINED"]}, ["legal", "sales"])
    assert (declined.opportunity_id, declined.handoff_id) == (pk(deal["id"]), pk(h["id"]))

    second = (await request(gql, deal["id"], to="finance"))["handoff"]
    done = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="finance_member", id=second["id"], accept=True)
    assert (done["handoff"]["responseNote"], done["handoff"]["opportunity"]) == (None, {"version": 2, "department": {"key": "finance"}})
    assert _messages(await inbox(gql, "sales_member"))[0] == "Finance Member accepted the handoff of Fleet pilot"


async def test_cancelling_logs_the_two_departments_and_the_status(gql, org):
    deal = await create(gql)
    h = (await request(gql, deal["id"], to="finance"))["handoff"]
    done = await mutate(gql, CANCEL_HANDOFF, "cancelHandoff", as_="sales_admin", id=h["id"])
    assert (done["handoff"]["status"], bool(done["handoff"]["respondedAt"])) == ("CANCELLED", True)
    assert done["handoff"]["opportunity"] == {"version": 1, "department": {"key": "sales"}}
    [cancelled] = await events(org, "HANDOFF_RESOLVED")
    assert (cancelled.changes, sorted(cancelled.department_keys)) == ({"status": ["PENDING", "CANCELLED"]}, ["finance", "sales"])
    assert (cancelled.opportunity_id, cancelled.handoff_id) == (pk(deal["id"]), pk(h["id"]))
    before = await event_count(org)
    for doc, name, extra in ((CANCEL_HANDOFF, "cancelHandoff", {}), (RESPOND_HANDOFF, "respondHandoff", {"accept": True})):
        late = await mutate(gql, doc, name, as_="sales_admin", id=h["id"], **extra)
        assert late["userErrors"] == [{"field": ["id"], "code": "INVALID_TRANSITION", "message": "This handoff is already cancelled"}], name
    assert await event_count(org) == before


async def test_unknown_and_foreign_handoff_ids_are_not_found(gql, org, db):
    from resolvers.ids import to_global
    from tests.conftest import make_org

    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    stranger = await make_org(db)
    wrong_type = await mutate(gql, CANCEL_HANDOFF, "cancelHandoff", id=deal["id"])
    assert [e["field"] for e in wrong_type["userErrors"]] == [["id"]]
    for gid, token in ((to_global("Handoff", 999999), None), (h["id"], stranger.tokens["sales_admin"])):
        for doc, name, extra in ((RESPOND_HANDOFF, "respondHandoff", {"accept": True}), (CANCEL_HANDOFF, "cancelHandoff", {})):
            body = await gql.ok(doc, {"input": {"id": gid, **extra}}, as_="sales_admin", token=token)
            assert body[name]["handoff"] is None
            assert [(e["code"], e["field"]) for e in body[name]["userErrors"]] == [("NOT_FOUND", ["id"])], (name, gid)
    assert (await opp(gql, deal["id"]))["handoffs"] == [{"status": "PENDING"}]


async def test_request_problems_are_reported_together(gql, org):
    deal = await create(gql)
    result = await request(gql, deal["id"], to="nope", assigneeId=to_global_user(999999), note="n" * 5001)
    assert sorted((e["code"], e["field"][0]) for e in result["userErrors"]) == [
        ("NOT_FOUND", "assigneeId"), ("VALIDATION", "note"), ("VALIDATION", "toDepartmentKey"),
    ]
    assert await event_count(org) == 1


def to_global_user(pk: int) -> str:
    from resolvers.ids import to_global

    return to_global("User", pk)


def _uid(org, who):
    from resolvers.ids import to_global

    return to_global("User", org.users[who].id)


async def test_responder_and_canceller_are_recorded(gql, org):
    from sqlalchemy import select

    from db import models as m

    deal = await create(gql)
    first = (await request(gql, deal["id"], to=" legal "))["handoff"]
    assert first["toDepartment"] == {"key": "legal"}
    await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=first["id"], accept=False)
    second = (await request(gql, deal["id"], to="legal"))["handoff"]
    await mutate(gql, CANCEL_HANDOFF, "cancelHandoff", as_="sales_admin", id=second["id"])
    async with org.db.read() as s:
        rows = (await s.execute(select(m.Handoff).where(m.Handoff.org_id == org.id).order_by(m.Handoff.id))).scalars().all()
        own = set((await s.execute(select(m.Department.id).where(m.Department.org_id == org.id))).scalars())
    # Every organization has a "legal": the handoff names this organization's.
    assert {h.to_department_id for h in rows} <= own and {h.from_department_id for h in rows} <= own
    assert [(h.status, h.responded_by_id, h.requested_by_id) for h in rows] == [
        ("DECLINED", org.users["legal_member"].id, org.users["sales_member"].id),
        ("CANCELLED", org.users["sales_admin"].id, org.users["sales_member"].id),
    ]


# ---------------------------------------------------------------- exact (mutants mutmut left alive)


async def test_refusals_name_the_department_the_key_and_the_handoff(gql, org):
    deal = await create(gql)
    same = await request(gql, deal["id"], to="sales")
    assert same["userErrors"] == [{"field": ["toDepartmentKey"], "code": "VALIDATION", "message": "Sales already holds this opportunity"}]
    unknown = await request(gql, deal["id"], to="nope")
    assert unknown["userErrors"] == [{"field": ["toDepartmentKey"], "code": "VALIDATION", "message": "Unknown department 'nope'"}]
    wrong = await request(gql, deal["id"], to="finance", assigneeId=_uid(org, "legal_member"))
    assert wrong["userErrors"] == [{"field": ["assigneeId"], "code": "VALIDATION", "message": "The assignee must belong to Finance"}]
    gid = to_global("Handoff", 999999)
    missing = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="sales_admin", id=gid, accept=True)
    assert missing["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND", "message": f"No handoff with id {gid!r}"}]


async def test_a_response_note_is_checked_by_its_name_and_length(gql, org):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    long = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=h["id"], accept=True, note="n" * 5001)
    assert long["handoff"] is None
    assert [(e["field"], e["code"]) for e in long["userErrors"]] == [(["note"], "VALIDATION")]
    assert "note" in long["userErrors"][0]["message"] and "5000" in long["userErrors"][0]["message"]
    done = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=h["id"], accept=True, note="n" * 5000)
    assert (done["userErrors"], done["handoff"]["responseNote"]) == ([], "n" * 5000)


async def test_a_handoff_is_dated_by_the_clock(gql, org, clock):
    deal = await create(gql)
    clock.advance(hours=5)  # sessions last a day
    h = (await request(gql, deal["id"]))["handoff"]
    q = "query($id: ID!) { node(id: $id) { ... on Handoff { status createdAt } } }"
    node = (await gql.ok(q, {"id": h["id"]}))["node"]
    assert node["status"] == "PENDING"
    assert node["createdAt"].replace("Z", "+00:00").startswith(clock().isoformat()[:19])


async def test_an_automatic_handoff_records_its_stage(gql, org):
    await set_stage(org, "qualified", owner={"departmentKey": "legal"})
    deal = await create(gql)
    assert (await move(gql, deal["id"], "qualified"))["userErrors"] == []
    [requested] = await events(org, "HANDOFF_REQUESTED")
    assert (requested.changes, sorted(requested.department_keys)) == ({"stage": "qualified", "automatic": True}, ["legal", "sales"])
    assert (await opp(gql, deal["id"]))["handoffs"] == [{"status": "PENDING"}]


async def test_concurrent_responses_have_one_outcome(gql, org):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    results = await asyncio.gather(
        handoffs.respond_handoff(org.ctx("legal_member"), {"id": h["id"], "accept": True}),
        handoffs.respond_handoff(org.ctx("legal_manager"), {"id": h["id"], "accept": False}),
    )
    assert sorted(bool(errors) for _, errors in results) == [False, True]
    [loser] = [errors for _, errors in results if errors]
    assert loser[0].code == "INVALID_TRANSITION"
    assert len(await events(org, "HANDOFF_RESOLVED")) == 1
