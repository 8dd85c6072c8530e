"""The approval rules (resolvers/approval_rules.py), outcome by outcome: the rule a stage
stores (every key of every step), each refusal of a rule with its code, field and
message, which steps an approval gets from a rule and who decides each (named users,
a department and role, the admins when no one may), which steps a card's amount skips,
the locked fields' snapshot and what moved, and when a step's approvers are first
chased. Written against the mutants mutmut left alive in approval_rules.py
(docs/testing.md); on both databases."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from db import models as m
from resolvers.ids import to_global
from resolvers.setup import create_user
from tests.api.test_approval_flows import (  # noqa: F401 (people: a fixture)
    DECIDE, REQUEST, card, edit, new_deal, people, run, users)
from tests.api.test_people import DEACTIVATE
from tests.api.workflow_helpers import add_stage, create, events, move, pk, set_stage
from tests.conftest import make_org

RULE_FIELDS = """stage { autoApproval approvalRule { kind mode locks steps { departmentKey role mode minApprovals
  amountAtLeast remindAfterHours escalateAfterHours finalAfterHours finalAction approvers { handle } } } }
  userErrors { field code message }"""
SET_RULE = "mutation($input: SetStageApprovalRuleInput!) { setStageApprovalRule(input: $input) { %s } }" % RULE_FIELDS
UPDATE_STAGE = "mutation($input: UpdateStageInput!) { updateStage(input: $input) { %s } }" % RULE_FIELDS
APPROVAL = """query($id: ID!) { node(id: $id) { ... on Approval { status snapshotRequested snapshotApproved
  changes { field before after }
  steps { position status mode openedAt dueAt department { key } approvers { handle } } } } }"""
RULE_STAGE = "won"  # the cards never enter it: its rule is only read by requestApproval
DEFAULT_LOCKS = ["amount", "currency", "account", "expectedCloseDate"]
NO_TIMEOUTS = {"remindAfterHours": None, "escalateAfterHours": None, "finalAfterHours": None, "finalAction": None}


def step(**values) -> dict:
    """A stored step: the defaults with `values`."""
    return {"departmentKey": None, "role": None, "userIds": [], "signMode": "ANY", "minApprovals": None,
            "amountAtLeast": None, **NO_TIMEOUTS, **values}


async def stage_id(gql, key: str = RULE_STAGE) -> str:
    data = await gql.ok("{ pipelines { stages { id key } } }")
    return next(s["id"] for s in data["pipelines"][0]["stages"] if s["key"] == key)


async def read_stage(gql, fields: str, read: str) -> dict:
    """The rule stage's `fields` through `pipelines`, under the alias `read`: a rule written
    straight to the database commits no event, and pipelines' results are cached per event seq."""
    data = await gql.ok("{ %s: pipelines { stages { key %s } } }" % (read, fields))
    return next(s for s in data[read][0]["stages"] if s["key"] == RULE_STAGE)


async def stored(org, key: str = RULE_STAGE) -> dict | None:
    """The stage's rule as stored (Stage.auto_approval)."""
    async with org.db.read() as s:
        pipelines = select(m.Pipeline.id).where(m.Pipeline.org_id == org.id)
        return await s.scalar(select(m.Stage.auto_approval).where(m.Stage.pipeline_id.in_(pipelines), m.Stage.key == key))


async def set_typed(gql, rule: dict | None, key: str = RULE_STAGE) -> dict:
    """setStageApprovalRule on a stage (the rule stage unless `key`), as an admin: its payload."""
    return await run(gql, SET_RULE, "setStageApprovalRule", "sales_admin", stageId=await stage_id(gql, key), rule=rule)


async def set_raw(gql, rule) -> dict:
    """updateStage's autoApproval (any JSON, either shape) on the rule stage: its payload."""
    return await run(gql, UPDATE_STAGE, "updateStage", "sales_admin", id=await stage_id(gql), autoApproval=rule)


async def refusals(gql, org, cases: list[tuple]) -> None:
    """Each (raw rule, field, message[, code]) is refused with exactly that error (code
    VALIDATION unless given), and the stage's rule stays as it was."""
    before = await stored(org)
    for raw, field, message, *code in cases:
        done = await set_raw(gql, raw)
        error = {"field": [field], "code": code[0] if code else "VALIDATION", "message": message}
        assert (done["stage"], done["userErrors"]) == (None, [error]), raw
    assert await stored(org) == before


def memo(*steps, **rule) -> dict:
    return {"kind": "memo", **rule, "steps": list(steps)}


async def request(gql, org, rule: dict | None, amount: str | None = "10", stored_rule: bool = False) -> dict:
    """A new card (with `amount`) asking for a memo approval under `rule` (set through the
    API, written as stored, or None: the stage's rule as it is): requestApproval's payload."""
    if stored_rule:
        await set_stage(org, RULE_STAGE, auto_approval=rule)
    elif rule is not None:
        assert (await set_typed(gql, rule))["userErrors"] == []
    deal = await new_deal(gql, amount, "Rule deal")
    return await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[])


async def approval(gql, gid: str) -> dict:
    return (await gql.ok(APPROVAL, {"id": gid}))["node"]


def shape(a: dict) -> list[tuple]:
    """Per step: (status, department, approvers in order, opened)."""
    return [(s["status"], s["department"]["key"], [x["handle"] for x in s["approvers"]], s["openedAt"] is not None)
            for s in a["steps"]]


@pytest.fixture
async def elsewhere(org):
    """Another organization, with a department this one lacks ("hr", one member)."""
    stranger = await make_org(org.db)
    async with org.db.write() as s:
        s.add(m.Department(org_id=stranger.id, key="hr", name="HR"))
        await s.flush()
        stranger.users["hr_member"] = await create_user(
            s, await s.get(m.Organization, stranger.id), email=f"hr.{stranger.id}@example.test", name="Hr Member",
            department_key="hr", handle="hr_member")
    return stranger


async def set_role(org, who: str, role: str) -> None:
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users[who].id).values(role=role))


# ---------------------------------------------------------------- the rule a stage stores


async def test_a_typed_rule_is_stored_in_full(gql, people):
    """Every setting of every step is kept; kind is trimmed and lowercased, duplicate
    locks dropped in order, departmentKeys lists the department steps' keys once."""
    org = people
    rule = {"kind": " Memo ", "mode": "PARALLEL", "locks": ["title", "amount", "title"], "steps": [
        {"departmentKey": "legal", "role": "MANAGER", "mode": "COUNT", "minApprovals": 1, "amountAtLeast": "1000.50",
         "remindAfterHours": 1, "escalateAfterHours": 2, "finalAfterHours": 8760, "finalAction": "RETURN"},
        {"userIds": users(org, "finance_member", "legal_member"), "mode": "ALL", "escalateAfterHours": 3},
        {"departmentKey": "legal", "amountAtLeast": "0"},
    ]}
    done = await set_typed(gql, rule)
    assert done["userErrors"] == []
    assert await stored(org) == {"kind": "memo", "mode": "PARALLEL", "locks": ["title", "amount"], "steps": [
        step(departmentKey="legal", role="MANAGER", signMode="COUNT", minApprovals=1, amountAtLeast="1000.50",
             remindAfterHours=1, escalateAfterHours=2, finalAfterHours=8760, finalAction="RETURN"),
        step(userIds=[org.users["finance_member"].id, org.users["legal_member"].id], signMode="ALL", escalateAfterHours=3),
        step(departmentKey="legal", amountAtLeast="0"),
    ], "departmentKeys": ["legal"]}
    assert done["stage"]["autoApproval"] == {"kind": "memo", "departmentKeys": ["legal"], "mode": "PARALLEL"}
    assert [(s["mode"], s["minApprovals"], s["amountAtLeast"], [a["handle"] for a in s["approvers"]])
            for s in done["stage"]["approvalRule"]["steps"]] == [
        ("COUNT", 1, "1000.50", []), ("ALL", None, None, ["finance_member", "legal_member"]), ("ANY", None, "0", [])]


async def test_the_older_shape_is_one_any_step_per_department(gql, org):
    """{kind, departmentKeys, mode}: the keys trimmed, SEQUENTIAL and the default locks
    when left out; a rule stored in that shape reads the same."""
    done = await set_raw(gql, {"kind": "Memo", "departmentKeys": [" legal", "finance "], "mode": ""})
    assert done["userErrors"] == []
    cleaned = {"kind": "memo", "mode": "SEQUENTIAL", "locks": DEFAULT_LOCKS,
               "steps": [step(departmentKey="legal"), step(departmentKey="finance")], "departmentKeys": ["legal", "finance"]}
    assert await stored(org) == cleaned
    assert done["stage"]["autoApproval"] == {"kind": "memo", "departmentKeys": ["legal", "finance"], "mode": "SEQUENTIAL"}
    await set_stage(org, RULE_STAGE, auto_approval={"kind": "memo", "departmentKeys": ["legal", "finance"]})
    rule = (await read_stage(gql, "approvalRule { kind mode locks steps { departmentKey mode } }", "older"))["approvalRule"]
    assert rule == {"kind": "memo", "mode": "SEQUENTIAL", "locks": DEFAULT_LOCKS,
                    "steps": [{"departmentKey": "legal", "mode": "ANY"}, {"departmentKey": "finance", "mode": "ANY"}]}


async def test_a_stored_rule_with_steps_keeps_its_mode_and_locks_and_fills_each_step(gql, org):
    """A stored rule's steps get the defaults for what they leave out; an empty rule is none."""
    await set_stage(org, RULE_STAGE, auto_approval={"kind": "memo", "mode": "PARALLEL", "locks": [],
                                                    "steps": [{"departmentKey": "legal", "signMode": "ALL"}, {"userIds": [1]}]})
    fields = "autoApproval approvalRule { mode locks steps { departmentKey mode remindAfterHours } }"
    stage = await read_stage(gql, fields, "filled")
    assert stage["approvalRule"] == {"mode": "PARALLEL", "locks": [], "steps": [
        {"departmentKey": "legal", "mode": "ALL", "remindAfterHours": None}, {"departmentKey": None, "mode": "ANY", "remindAfterHours": None}]}
    await set_stage(org, RULE_STAGE, auto_approval={})
    stage = await read_stage(gql, fields, "empty")
    assert (stage["autoApproval"], stage["approvalRule"]) == (None, None)


async def test_a_null_rule_clears_the_stage(gql, org):
    """Both mutations take null for "no rule"."""
    assert (await set_raw(gql, {"kind": "memo", "departmentKeys": ["legal"]}))["userErrors"] == []
    done = await set_raw(gql, None)
    assert (done["userErrors"], done["stage"]["autoApproval"], done["stage"]["approvalRule"]) == ([], None, None)
    assert await stored(org) is None
    assert (await set_typed(gql, memo({"departmentKey": "legal"})))["userErrors"] == []
    done = await set_typed(gql, None)
    assert (done["userErrors"], done["stage"]["approvalRule"]) == ([], None)
    assert await stored(org) is None


async def test_a_new_organizations_contract_rule(org):
    """Legal, then finance, then finance managers from 1,000,000; reminded after a day,
    escalated after two; the default locks."""
    timeouts = {"remindAfterHours": 24, "escalateAfterHours": 48}
    assert await stored(org, "contract") == {"kind": "contract", "mode": "SEQUENTIAL", "locks": DEFAULT_LOCKS, "steps": [
        step(departmentKey="legal", **timeouts), step(departmentKey="finance", **timeouts),
        step(departmentKey="finance", role="MANAGER", amountAtLeast="1000000", **timeouts),
    ], "departmentKeys": ["legal", "finance"]}


# ---------------------------------------------------------------- refusals


async def test_a_rules_own_refusals(gql, org, elsewhere):
    """The rule as a whole: its type, kind, mode, the older shape's departments, the
    number of steps and the locks."""
    legal = {"departmentKey": "legal"}
    await refusals(gql, org, [
        ("memo", "autoApproval", "The approval rule must be an object {kind, mode, steps, locks}"),
        ({"steps": [legal]}, "autoApproval", "autoApproval is required"),
        ({"kind": "k" * 41, "steps": [legal]}, "autoApproval", "autoApproval is longer than 40 characters"),
        ({"kind": "memo", "mode": "SERIAL", "steps": [legal]}, "autoApproval.mode", "autoApproval.mode must be one of SEQUENTIAL, PARALLEL"),
        ({"kind": "memo"}, "autoApproval", "autoApproval needs steps (or departmentKeys: a list of department keys)"),
        ({"kind": "memo", "departmentKeys": "legal"}, "autoApproval", "autoApproval needs steps (or departmentKeys: a list of department keys)"),
        ({"kind": "memo", "departmentKeys": ["legal", 3]}, "autoApproval", "autoApproval needs steps (or departmentKeys: a list of department keys)"),
        ({"kind": "memo", "departmentKeys": []}, "autoApproval", "Name at least one approver department"),
        ({"kind": "memo", "departmentKeys": ["legal", " legal "]}, "autoApproval", "Each department may appear only once"),
        ({"kind": "memo", "departmentKeys": ["nope", "legal", "gone"]}, "autoApproval", "Unknown department 'nope', 'gone'"),
        ({"kind": "memo", "departmentKeys": ["hr", "legal", "nope"]}, "autoApproval",  # hr: another organization's
         "Unknown department 'hr', 'nope'"),
        ({"kind": "memo", "steps": legal}, "autoApproval", "An approval has between 1 and 10 steps"),
        ({"kind": "memo", "steps": []}, "autoApproval", "An approval has between 1 and 10 steps"),
        ({"kind": "memo", "steps": [legal] * 11}, "autoApproval", "An approval has between 1 and 10 steps"),
        ({"kind": "memo", "steps": [legal], "locks": "amount"}, "autoApproval",
         "locks may name amount, currency, account, expectedCloseDate, probability, title"),
        ({"kind": "memo", "steps": [legal], "locks": ["amount", "stage"]}, "autoApproval",
         "locks may name amount, currency, account, expectedCloseDate, probability, title"),
    ])
    done = await set_raw(gql, {"kind": "k" * 40, "steps": [legal] * 10, "locks": []})
    assert done["userErrors"] == []
    assert len((await stored(org))["steps"]) == 10 and (await stored(org))["locks"] == []


async def test_a_steps_approver_refusals(gql, org, elsewhere):
    """Who a step names: a department (and role) or users, each known (in this
    organization), able to decide and named once."""
    viewer, outsider = org.users["sales_viewer"], elsewhere.users["legal_member"]
    member = to_global("User", org.users["legal_member"].id)
    field = "autoApproval"
    await refusals(gql, org, [(memo(raw), *rest) for raw, *rest in [
        ("legal", field, "Each step must be an object"),
        ({"departmentKey": "legal", "mode": "ALL", "colour": 1}, field, "Unknown step setting 'colour', 'mode'"),
        ({"departmentKey": "legal", "userIds": member}, field, "userIds must be a list"),
        ({"departmentKey": "legal", "userIds": [member]}, field,
         "A step names its approvers either by departmentKey (and role) or by userIds"),
        ({"role": "MANAGER"}, field, "A step names its approvers either by departmentKey (and role) or by userIds"),
        ({"departmentKey": "", "userIds": []}, field, "A step names its approvers either by departmentKey (and role) or by userIds"),
        ({"departmentKey": "legal", "role": "VIEWER"}, "autoApproval.role", "autoApproval.role must be one of ADMIN, MANAGER, MEMBER"),
        ({"userIds": [member], "role": "MANAGER"}, field, "role needs a departmentKey"),
        ({"departmentKey": "hr"}, field, "Unknown department 'hr'"),
        ({"departmentKey": "hr", "role": "MEMBER"}, field, "Unknown department 'hr'"),
        ({"userIds": [member, to_global("User", 987654321)]}, field, f"Unknown user {to_global('User', 987654321)!r}"),
        ({"userIds": [to_global("User", outsider.id)]}, field, f"Unknown user {to_global('User', outsider.id)!r}"),
        ({"userIds": [outsider.id]}, field, f"Unknown user {outsider.id}"),
        ({"userIds": [987654321]}, field, "Unknown user 987654321"),
        ({"userIds": [float(org.users["legal_member"].id)]}, field, f"Unknown user {float(org.users['legal_member'].id)}"),
        ({"userIds": [{"id": org.users["legal_member"].id}]}, field, f"Unknown user {{'id': {org.users['legal_member'].id}}}"),
        ({"userIds": ["User:nope"]}, field, "No User with id 'User:nope'", "NOT_FOUND"),
        ({"userIds": [viewer.id]}, field, "Sales Viewer is read-only and cannot approve"),
        ({"userIds": [member, org.users["legal_member"].id]}, field, "Each user may appear once in a step"),
    ]])


async def test_a_steps_mode_and_timeout_refusals(gql, org):
    """How a step decides, when it is chased and from what amount it applies."""
    legal = {"departmentKey": "legal"}
    hours = "must be a whole number of hours between 1 and 8760"
    cases = [
        ({"signMode": "MOST"}, "autoApproval.signMode", "autoApproval.signMode must be one of ALL, ANY, COUNT"),
        ({"signMode": "COUNT"}, "autoApproval", "signMode COUNT needs minApprovals of 1 or more"),
        ({"signMode": "COUNT", "minApprovals": 0}, "autoApproval", "signMode COUNT needs minApprovals of 1 or more"),
        ({"signMode": "COUNT", "minApprovals": True}, "autoApproval", "signMode COUNT needs minApprovals of 1 or more"),
        ({"signMode": "COUNT", "minApprovals": "2"}, "autoApproval", "signMode COUNT needs minApprovals of 1 or more"),
        ({"minApprovals": 1}, "autoApproval", "minApprovals goes with signMode COUNT"),
        ({"signMode": "ALL", "minApprovals": 1}, "autoApproval", "minApprovals goes with signMode COUNT"),
        ({"remindAfterHours": 0}, "autoApproval.remindAfterHours", f"autoApproval.remindAfterHours {hours}"),
        ({"escalateAfterHours": 8761}, "autoApproval.escalateAfterHours", f"autoApproval.escalateAfterHours {hours}"),
        ({"remindAfterHours": True}, "autoApproval.remindAfterHours", f"autoApproval.remindAfterHours {hours}"),
        ({"remindAfterHours": 1.5}, "autoApproval.remindAfterHours", f"autoApproval.remindAfterHours {hours}"),
        ({"finalAfterHours": -1, "finalAction": "RETURN"}, "autoApproval.finalAfterHours", f"autoApproval.finalAfterHours {hours}"),
        ({"finalAfterHours": 5, "finalAction": "WAIT"}, "autoApproval.finalAction",
         "autoApproval.finalAction must be one of RETURN, APPROVE"),
        ({"finalAfterHours": 5}, "autoApproval", "finalAfterHours and finalAction go together"),
        ({"finalAction": "APPROVE"}, "autoApproval", "finalAfterHours and finalAction go together"),
        ({"remindAfterHours": 5, "finalAfterHours": 5, "finalAction": "APPROVE"}, "autoApproval",
         "finalAfterHours must come after the reminder and the escalation"),
        ({"escalateAfterHours": 6, "finalAfterHours": 5, "finalAction": "APPROVE"}, "autoApproval",
         "finalAfterHours must come after the reminder and the escalation"),
        ({"remindAfterHours": 1, "escalateAfterHours": 5, "finalAfterHours": 5, "finalAction": "APPROVE"}, "autoApproval",
         "finalAfterHours must come after the reminder and the escalation"),
        ({"amountAtLeast": "lots"}, "autoApproval.amountAtLeast", "autoApproval.amountAtLeast must be a number"),
        ({"amountAtLeast": "-0.01"}, "autoApproval.amountAtLeast", "autoApproval.amountAtLeast must be zero or more"),
        ({"amountAtLeast": "NaN"}, "autoApproval.amountAtLeast", "autoApproval.amountAtLeast must be zero or more"),
        ({"amountAtLeast": "Infinity"}, "autoApproval.amountAtLeast", "autoApproval.amountAtLeast must be zero or more"),
    ]
    await refusals(gql, org, [(memo({**legal, **raw}), field, message) for raw, field, message in cases])


async def test_a_steps_settings_at_their_bounds_are_kept(gql, org):
    """The edges that pass: 1 and 8760 hours, a final timeout one hour after the others,
    COUNT of 1, a zero threshold given as a number, no settings given as null or empty."""
    member = org.users["legal_member"].id
    done = await set_raw(gql, memo(
        {"departmentKey": "legal", "remindAfterHours": 1, "escalateAfterHours": 8759, "finalAfterHours": 8760, "finalAction": "APPROVE"},
        {"userIds": [member], "signMode": "COUNT", "minApprovals": 1, "amountAtLeast": 0, "role": ""},
        {"departmentKey": "finance", "userIds": None, "signMode": None, "remindAfterHours": 2, "finalAfterHours": 3, "finalAction": "RETURN"},
        {"departmentKey": "finance", "userIds": [], "signMode": "", "amountAtLeast": 12.5, "finalAction": ""},
        {"departmentKey": "", "userIds": [member], "role": None, "escalateAfterHours": 4, "finalAfterHours": 5, "finalAction": "RETURN"},
    ))
    assert done["userErrors"] == []
    assert (await stored(org))["steps"] == [
        step(departmentKey="legal", remindAfterHours=1, escalateAfterHours=8759, finalAfterHours=8760, finalAction="APPROVE"),
        step(userIds=[member], signMode="COUNT", minApprovals=1, amountAtLeast="0"),
        step(departmentKey="finance", remindAfterHours=2, finalAfterHours=3, finalAction="RETURN"),
        step(departmentKey="finance", amountAtLeast="12.5"),
        step(userIds=[member], escalateAfterHours=4, finalAfterHours=5, finalAction="RETURN"),
    ]


async def test_the_typed_mutation_names_the_rule_field(gql, people):
    """setStageApprovalRule's errors name `rule`; the stage keeps its rule."""
    org = people
    cases = [
        (memo({"departmentKey": "legal", "remindAfterHours": 0}), ["rule.remindAfterHours"],
         "rule.remindAfterHours must be a whole number of hours between 1 and 8760"),
        (memo({"departmentKey": "legal", "mode": "COUNT"}), ["rule"], "signMode COUNT needs minApprovals of 1 or more"),
        (memo({"departmentKey": "legal"}, locks=["colour"]), ["rule"],
         "locks may name amount, currency, account, expectedCloseDate, probability, title"),
        ({"kind": " ", "steps": [{"departmentKey": "legal"}]}, ["rule"], "rule must not be blank"),
    ]
    for rule, field, message in cases:
        done = await set_typed(gql, rule)
        assert (done["stage"], done["userErrors"]) == (None, [{"field": field, "code": "VALIDATION", "message": message}])
    assert await stored(org) is None


# ---------------------------------------------------------------- which steps, and who decides them


async def test_a_threshold_skips_its_step_below_it_and_for_no_amount(gql, people):
    """amountAtLeast: the step applies from exactly that amount; a card without an amount
    is below every threshold."""
    org = people
    rule = memo({"departmentKey": "legal"}, {"departmentKey": "finance", "amountAtLeast": "100"})
    expected = {"99.99": "SKIPPED", "100": "PENDING", "250": "PENDING", None: "SKIPPED"}
    for amount, status in expected.items():
        made = await request(gql, org, rule, amount)
        assert made["userErrors"] == []
        assert [s["status"] for s in made["approval"]["steps"]] == ["PENDING", status], amount
    requested = [e.changes for e in await events(org, "APPROVAL_REQUESTED")]
    assert requested == [{"kind": "memo", "mode": "SEQUENTIAL", "departmentKeys": ["legal"], "skipped": [1]},
                         {"kind": "memo", "mode": "SEQUENTIAL", "departmentKeys": ["legal", "finance"]},
                         {"kind": "memo", "mode": "SEQUENTIAL", "departmentKeys": ["legal", "finance"]},
                         {"kind": "memo", "mode": "SEQUENTIAL", "departmentKeys": ["legal"], "skipped": [1]}]


async def test_named_approvers_decide_in_the_order_named(gql, people, elsewhere):
    """userIds: the approvers in the rule's order, the step under the first one's
    department; a named user who turned read-only since, or of another organization
    (in a rule written as stored), is left out."""
    org = people
    rule = memo({"userIds": users(org, "finance_manager", "legal2", "legal_member")}, {"userIds": users(org, "legal_member")})
    made = await request(gql, org, rule)
    assert made["userErrors"] == []
    assert shape(made["approval"]) == [("PENDING", "finance", ["finance_manager", "legal2", "legal_member"], True),
                                       ("PENDING", "legal", ["legal_member"], False)]
    await set_role(org, "finance_manager", "VIEWER")
    made = await request(gql, org, None)
    assert shape(made["approval"]) == [("PENDING", "legal", ["legal2", "legal_member"], True),
                                       ("PENDING", "legal", ["legal_member"], False)]
    outsider, legal2 = elsewhere.users["hr_member"].id, org.users["legal2"].id
    made = await request(gql, org, {"kind": "memo", "steps": [step(userIds=[outsider, legal2])]}, stored_rule=True)
    assert shape(made["approval"]) == [("PENDING", "legal", ["legal2"], True)]


async def test_a_step_whose_named_users_cannot_decide_is_refused(gql, people):
    """Named users no longer able to decide (here: turned read-only) do not fall to the admins."""
    org = people
    rule = memo({"departmentKey": "legal"}, {"userIds": users(org, "finance_manager")})
    assert (await set_typed(gql, rule))["userErrors"] == []
    await set_role(org, "finance_manager", "VIEWER")
    made = await request(gql, org, None)
    assert made["userErrors"] == [{"field": ["departmentKeys"], "code": "VALIDATION",
                                   "message": "Step 2 has no one to approve it: the named users has no members who may approve"}]
    assert await events(org, "APPROVAL_REQUESTED") == []


async def test_a_department_step_is_its_members_who_may_decide(gql, people):
    """departmentKey: its members in id order (also when the first ones' rows were
    rewritten since: PostgreSQL then stores them last), read-only ones left out; with a
    role, only that role."""
    org = people
    for who in ("sales_admin", "legal_member"):
        await set_role(org, who, org.users[who].role)
    made = await request(gql, org, memo({"departmentKey": "sales"}, {"departmentKey": "legal", "role": "MEMBER"},
                                        {"departmentKey": "finance", "role": "MANAGER"}, mode="PARALLEL"))
    assert shape(made["approval"]) == [("PENDING", "sales", ["sales_admin", "sales_manager", "sales_member"], True),
                                       ("PENDING", "legal", ["legal_member", "legal2"], True),
                                       ("PENDING", "finance", ["finance_manager"], True)]


async def test_a_department_step_no_one_may_decide_falls_to_the_admins(gql, people):
    """No one of the role, or only read-only members: the organization's admins decide,
    in id order (also when the first one's row was rewritten last, its email changed), the
    step keeping its department."""
    org = people
    await set_role(org, "product_member", "VIEWER")
    await set_role(org, "legal_manager", "ADMIN")
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["sales_admin"].id).values(email=f"renamed.{org.id}@example.test"))
    made = await request(gql, org, memo({"departmentKey": "product"}, {"departmentKey": "finance", "role": "ADMIN"}, mode="PARALLEL"))
    assert shape(made["approval"]) == [("PENDING", "product", ["sales_admin", "legal_manager"], True),
                                       ("PENDING", "finance", ["sales_admin", "legal_manager"], True)]


async def deactivate(gql, org, who: str) -> None:
    done = await gql.ok(DEACTIVATE, {"id": to_global("User", org.users[who].id)}, as_="sales_admin")
    assert done["deactivateUser"]["userErrors"] == []


async def test_deactivated_people_do_not_approve(gql, people):
    """A deactivated member is no approver: product's only member gone, its step falls to
    the admins (a deactivated admin left out too); a deactivated named user is left out."""
    org = people
    await set_role(org, "legal_manager", "ADMIN")
    for who in ("product_member", "legal_manager", "legal2"):
        await deactivate(gql, org, who)
    made = await request(gql, org, memo({"departmentKey": "product"}, {"departmentKey": "legal"},
                                        {"userIds": users(org, "legal2", "finance_member")}, mode="PARALLEL"))
    assert shape(made["approval"]) == [("PENDING", "product", ["sales_admin"], True),
                                       ("PENDING", "legal", ["legal_member"], True),
                                       ("PENDING", "finance", ["finance_member"], True)]


async def test_a_step_of_a_department_gone_is_refused(gql, people, elsewhere):
    """A stored rule naming a department the organization no longer has (another one
    has it): nobody to ask."""
    org = people
    rule = {"kind": "memo", "mode": "SEQUENTIAL", "locks": [], "steps": [step(departmentKey="legal"), step(departmentKey="hr", role="MANAGER")]}
    made = await request(gql, org, rule, stored_rule=True)
    assert made["userErrors"] == [{"field": ["departmentKeys"], "code": "VALIDATION",
                                   "message": "Step 2 has no one to approve it: hr MANAGERs has no members who may approve"}]


# ---------------------------------------------------------------- locked fields


async def test_the_snapshot_holds_each_locked_fields_value(gql, people):
    """Amounts to two places, dates as ISO text, the account by id, empty fields as null;
    only the locked fields."""
    org = people
    rule = memo({"departmentKey": "legal"}, locks=["title", "amount", "currency", "account", "expectedCloseDate", "probability"])
    made = await request(gql, org, rule, amount="1200000")
    a = await approval(gql, made["approval"]["id"])
    deal = (await gql.ok("query($id: ID!) { node(id: $id) { ... on Approval { opportunity { id account { id } } } } }",
                         {"id": made["approval"]["id"]}))["node"]["opportunity"]
    assert a["snapshotRequested"] == {"title": "Rule deal", "amount": "1200000.00", "currency": "CNY",
                                      "account": pk(deal["account"]["id"]), "expectedCloseDate": "2031-03-31",
                                      "probability": None}
    assert a["changes"] == []
    made = await request(gql, org, memo({"departmentKey": "legal"}, locks=["amount", "probability"]), amount=None)
    assert (await approval(gql, made["approval"]["id"]))["snapshotRequested"] == {"amount": None, "probability": None}


async def test_an_approval_stands_until_a_locked_field_moves(gql, people):
    """Editing an unlocked field keeps the approval; moving a locked one supersedes it,
    and its changes list the fields that moved, before and after."""
    org = people
    made = await request(gql, org, memo({"userIds": users(org, "legal_member")}, locks=["amount", "expectedCloseDate"]), amount="500")
    gid = made["approval"]["id"]
    deal = (await gql.ok("query($id: ID!) { node(id: $id) { ... on Approval { opportunity { id } } } }", {"id": gid}))["node"]["opportunity"]["id"]
    assert (await run(gql, DECIDE, "decideApproval", "legal_member", id=gid, approve=True))["approval"]["status"] == "APPROVED"
    assert (await edit(gql, deal, title="Renamed", currency="USD"))["userErrors"] == []
    a = await approval(gql, gid)
    assert (a["status"], a["changes"], a["snapshotApproved"]) == ("APPROVED", [], {"amount": "500.00", "expectedCloseDate": "2031-03-31"})
    assert (await edit(gql, deal, amount="500.00"))["userErrors"] == []  # the same amount: nothing moved
    assert (await approval(gql, gid))["status"] == "APPROVED"
    assert (await edit(gql, deal, amount="500.01", expectedCloseDate="2031-04-01"))["userErrors"] == []
    a = await approval(gql, gid)
    assert (a["status"], a["changes"]) == ("SUPERSEDED", [{"field": "amount", "before": "500.00", "after": "500.01"},
                                                          {"field": "expectedCloseDate", "before": "2031-03-31", "after": "2031-04-01"}])


# ---------------------------------------------------------------- when a step is chased


async def test_a_step_is_due_at_its_first_timeout_in_order(gql, people, clock):
    """dueAt: opened + the reminder's hours, else the escalation's, else the final
    timeout's; none without timeouts or before the step opens."""
    org = people
    legal = users(org, "legal_member")
    made = await request(gql, org, memo(
        {"userIds": legal, "remindAfterHours": 3, "escalateAfterHours": 2},
        {"userIds": legal, "escalateAfterHours": 5},
        {"userIds": legal, "finalAfterHours": 7, "finalAction": "RETURN"},
        {"userIds": legal}, mode="PARALLEL"))
    due = [s["dueAt"] and datetime.fromisoformat(s["dueAt"]) for s in made["approval"]["steps"]]
    assert due == [clock() + timedelta(hours=3), clock() + timedelta(hours=5), clock() + timedelta(hours=7), None]
    made = await request(gql, org, memo({"userIds": legal}, {"userIds": legal, "remindAfterHours": 3}))
    assert [s["dueAt"] for s in made["approval"]["steps"]] == [None, None]


async def test_an_approval_stops_counting_when_a_merge_moves_the_cards_customer(gql, people):
    """A merge moves a card to another customer without an edit: the approval stays
    APPROVED but no longer matches what was approved (account locked), so the gate it
    passed asks for it again."""
    org = people
    assert (await set_typed(gql, memo({"userIds": users(org, "legal_member")}, locks=["account"]), "qualified"))["userErrors"] == []
    deal = (await create(gql, accountName="Merged Away", amount="10", expectedCloseDate="2031-03-31"))["id"]
    refused = await move(gql, deal, "qualified")
    assert [e["code"] for e in refused["userErrors"]] == ["STAGE_GATE"]
    [pending] = (await card(gql, deal))["approvals"]
    assert (await run(gql, DECIDE, "decideApproval", "legal_member", id=pending["id"], approve=True))["approval"]["status"] == "APPROVED"
    assert (await move(gql, deal, "qualified"))["userErrors"] == []
    q = "query($id: ID!) { node(id: $id) { ... on Opportunity { approvalsNeeded account { id } } } }"
    before = (await gql.ok(q, {"id": deal}))["node"]
    assert before["approvalsNeeded"] == []
    other = (await create(gql, title="Other", accountName="Merged Into"))["id"]
    target = (await gql.ok(q, {"id": other}))["node"]["account"]["id"]
    merge = "mutation($input: MergeAccountsInput!) { mergeAccounts(input: $input) { userErrors { code } } }"
    assert (await gql.ok(merge, {"input": {"sourceId": before["account"]["id"], "targetId": target}}, as_="sales_manager"))[
        "mergeAccounts"]["userErrors"] == []
    a = await approval(gql, pending["id"])
    assert (a["status"], a["changes"]) == ("APPROVED", [{"field": "account", "before": pk(before["account"]["id"]), "after": pk(target)}])
    assert (await gql.ok(q, {"id": deal}, as_="sales_manager"))["node"]["approvalsNeeded"] == ["memo"]
    refused = await move(gql, deal, "proposal")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("STAGE_GATE", ["approval:memo"])]


async def test_the_first_stage_in_the_pipeline_with_a_rule_for_the_kind_sets_it(gql, org):
    """Two stages set a memo rule: the one earlier in the pipeline decides, also when it was
    added last (inserted before the others, its row comes after theirs)."""
    assert (await set_typed(gql, memo({"departmentKey": "finance"})))["userErrors"] == []  # Won's
    await add_stage(gql, "screening", position=1, autoApproval={"kind": "memo", "departmentKeys": ["legal"]})
    answer = await request(gql, org, None)
    assert shape(answer["approval"]) == [("PENDING", "legal", ["legal_member", "legal_manager"], True)]
