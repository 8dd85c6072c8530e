"""Approval rules: who decides each step of an approval, in what mode, when a step
applies, what happens when it waits too long, and which card fields it locks.

One JSON shape, stored on the stage (`Stage.auto_approval`) and copied onto every
approval opened from it (`Approval.rule`):

    {"kind": "contract", "mode": "SEQUENTIAL",
     "locks": ["amount", "currency", "account", "expectedCloseDate"],
     "steps": [{"departmentKey": "legal", "role": null, "userIds": [], "signMode": "ANY",
                "minApprovals": null, "amountAtLeast": null, "remindAfterHours": 24,
                "escalateAfterHours": 48, "finalAfterHours": null, "finalAction": null}],
     "departmentKeys": ["legal"]}

`departmentKeys` repeats the step departments for clients of the older
{kind, departmentKeys, mode} shape, which still reads as one ANY step per department."""
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from db import models as m
from db.loaders import MAX_APPROVAL_STEPS
from resolvers import validate
from resolvers.errors import VALIDATION, fail
from resolvers.ids import decode

MODES = ("SEQUENTIAL", "PARALLEL")
SIGN_MODES = ("ALL", "ANY", "COUNT")  # 会签, 或签, N of M
FINAL_ACTIONS = ("RETURN", "APPROVE")
APPROVER_ROLES = ("ADMIN", "MANAGER", "MEMBER")  # VIEWERs never decide
MAX_STEPS = MAX_APPROVAL_STEPS
MAX_HOURS = 24 * 365

# Lockable card fields: API name -> model attribute.
LOCKABLE = {
    "amount": "amount",
    "currency": "currency",
    "account": "account_id",
    "expectedCloseDate": "expected_close_date",
    "probability": "probability",
    "title": "title",
}
DEFAULT_LOCKS = ["amount", "currency", "account", "expectedCloseDate"]
STEP_DEFAULTS = {
    "departmentKey": None, "role": None, "userIds": [], "signMode": "ANY", "minApprovals": None,
    "amountAtLeast": None, "remindAfterHours": None, "escalateAfterHours": None,
    "finalAfterHours": None, "finalAction": None,
}
TIMEOUT_KEYS = ("remindAfterHours", "escalateAfterHours", "finalAfterHours", "finalAction")


def normalized(rule: dict | None) -> dict | None:
    """A stored rule in the current shape (the older shape converted)."""
    if not rule:
        return None
    steps = rule.get("steps")
    if steps is None:
        steps = [{"departmentKey": key} for key in rule.get("departmentKeys") or []]
    steps = [{**STEP_DEFAULTS, **step} for step in steps]
    return {
        "kind": rule["kind"],
        "mode": rule.get("mode") or "SEQUENTIAL",
        "locks": list(rule.get("locks", DEFAULT_LOCKS)),
        "steps": steps,
        "departmentKeys": list(dict.fromkeys(s["departmentKey"] for s in steps if s["departmentKey"])),
    }


def default_contract_rule() -> dict:
    """New organizations: legal (any member) → finance (any member) → from 1,000,000:
    finance MANAGERs (any one). Each step is reminded after a day, escalated after two."""
    timeouts = {"remindAfterHours": 24, "escalateAfterHours": 48}
    return normalized({"kind": "contract", "mode": "SEQUENTIAL", "locks": DEFAULT_LOCKS, "steps": [
        {"departmentKey": "legal", **timeouts},
        {"departmentKey": "finance", **timeouts},
        {"departmentKey": "finance", "role": "MANAGER", "amountAtLeast": "1000000", **timeouts},
    ]})


# ---------------------------------------------------------------- validation


def _hours(value, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HOURS:
        fail(VALIDATION, "{field_name} must be a whole number of hours between 1 and {max_hours}", field, field_name=field, max_hours=MAX_HOURS)
    return value


def _threshold(value, field: str) -> str | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        fail(VALIDATION, "{field_name} must be a number", field, field_name=field)
    if not amount.is_finite() or amount < 0:
        fail(VALIDATION, "{field_name} must be zero or more", field, field_name=field)
    return str(amount)


def _choice(value, choices: tuple[str, ...], field: str, default: str | None) -> str | None:
    value = value or default
    if value is not None and value not in choices:
        fail(VALIDATION, "{field_name} must be one of {choices}", field, field_name=field, choices=', '.join(choices))
    return value


async def _step(session, org_id: int, raw, field: str) -> dict:
    if not isinstance(raw, dict):
        fail(VALIDATION, "Each step must be an object", field)
    unknown = sorted(set(raw) - set(STEP_DEFAULTS))
    if unknown:
        fail(VALIDATION, "Unknown step setting {unknown}", field, unknown=', '.join(map(repr, unknown)))
    step = {**STEP_DEFAULTS, **raw}
    key, user_ids = step["departmentKey"], step["userIds"] or []
    if not isinstance(user_ids, list):
        fail(VALIDATION, "userIds must be a list", field)
    if bool(key) == bool(user_ids):
        fail(VALIDATION, "A step names its approvers either by departmentKey (and role) or by userIds", field)
    role = _choice(step["role"], APPROVER_ROLES, f"{field}.role", None)
    if role and not key:
        fail(VALIDATION, "role needs a departmentKey", field)
    if key:
        found = await session.scalar(select(m.Department.key).where(m.Department.org_id == org_id, m.Department.key == key))
        if found is None:
            fail(VALIDATION, "Unknown department {key!r}", field, key=key)
    ids = []
    for gid in user_ids:
        pk = decode(gid, "User", field) if isinstance(gid, str) else gid
        user = await session.get(m.User, pk) if isinstance(pk, int) else None
        if user is None or user.org_id != org_id:
            fail(VALIDATION, "Unknown user {gid!r}", field, gid=gid)
        if user.role == "VIEWER":
            fail(VALIDATION, "{user} is read-only and cannot approve", field, user=user.name)
        ids.append(user.id)
    if len(set(ids)) != len(ids):
        fail(VALIDATION, "Each user may appear once in a step", field)
    sign_mode = _choice(step["signMode"], SIGN_MODES, f"{field}.signMode", "ANY")
    min_approvals = step["minApprovals"]
    if sign_mode == "COUNT":
        if isinstance(min_approvals, bool) or not isinstance(min_approvals, int) or min_approvals < 1:
            fail(VALIDATION, "signMode COUNT needs minApprovals of 1 or more", field)
    elif min_approvals is not None:
        fail(VALIDATION, "minApprovals goes with signMode COUNT", field)
    hours = {k: _hours(step[k], f"{field}.{k}") for k in ("remindAfterHours", "escalateAfterHours", "finalAfterHours")}
    final_action = _choice(step["finalAction"], FINAL_ACTIONS, f"{field}.finalAction", None)
    if bool(final_action) != bool(hours["finalAfterHours"]):
        fail(VALIDATION, "finalAfterHours and finalAction go together", field)
    earlier = [h for h in (hours["remindAfterHours"], hours["escalateAfterHours"]) if h]
    if hours["finalAfterHours"] and any(h >= hours["finalAfterHours"] for h in earlier):
        fail(VALIDATION, "finalAfterHours must come after the reminder and the escalation", field)
    return {
        "departmentKey": key or None, "role": role, "userIds": ids, "signMode": sign_mode,
        "minApprovals": min_approvals if sign_mode == "COUNT" else None,
        "amountAtLeast": _threshold(step["amountAtLeast"], f"{field}.amountAtLeast"), **hours, "finalAction": final_action,
    }


async def clean_rule(session, org_id: int, raw, field: str = "rule") -> dict | None:
    """A rule from a client (either shape), checked against the organization."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        fail(VALIDATION, "The approval rule must be an object {{kind, mode, steps, locks}}", field)
    kind = validate.text(raw.get("kind"), field, max_len=40, required=True).lower()
    mode = _choice(raw.get("mode"), MODES, f"{field}.mode", "SEQUENTIAL")
    if raw.get("steps") is None:
        keys = raw.get("departmentKeys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            fail(VALIDATION, "{field_name} needs steps (or departmentKeys: a list of department keys)", field, field_name=field)
        keys = [k.strip() for k in keys]
        if not keys:
            fail(VALIDATION, "Name at least one approver department", field)
        if len(set(keys)) != len(keys):
            fail(VALIDATION, "Each department may appear only once", field)
        known = set((await session.execute(select(m.Department.key).where(m.Department.org_id == org_id, m.Department.key.in_(keys)))).scalars())
        if unknown := [k for k in keys if k not in known]:
            fail(VALIDATION, "Unknown department {unknown}", field, unknown=', '.join(map(repr, unknown)))
        raw_steps = [{"departmentKey": k} for k in keys]
    else:
        raw_steps = raw["steps"]
    if not isinstance(raw_steps, list) or not 1 <= len(raw_steps) <= MAX_STEPS:
        fail(VALIDATION, "An approval has between 1 and {max_steps} steps", field, max_steps=MAX_STEPS)
    steps = [await _step(session, org_id, s, field) for s in raw_steps]
    locks = raw.get("locks", DEFAULT_LOCKS)
    if not isinstance(locks, list) or any(f not in LOCKABLE for f in locks):
        fail(VALIDATION, "locks may name {lockable}", field, lockable=', '.join(LOCKABLE))
    return normalized({"kind": kind, "mode": mode, "locks": list(dict.fromkeys(locks)), "steps": steps})


# ---------------------------------------------------------------- evaluation


def applies(step: dict, opp: m.Opportunity) -> bool:
    """Whether a rule step applies to the card. A card with no amount is below every
    threshold; setting one later supersedes the approval (amount is locked)."""
    threshold = step.get("amountAtLeast")
    if threshold is None:
        return True
    return opp.amount is not None and Decimal(opp.amount) >= Decimal(threshold)


async def approver_ids(session, org_id: int, step: dict) -> tuple[int | None, list[int]]:
    """(the step's department id, its approvers' user ids) as of now: active users who
    may decide (not read-only, not deactivated). A step that names nobody who may decide
    (a role no one holds, everyone deactivated) falls to the admins."""
    department_id, ids = None, []
    if step["userIds"]:
        users = list((await session.execute(select(m.User).where(m.User.id.in_(step["userIds"])))).scalars())
        by_id = {u.id: u for u in users}
        ids = [i for i in step["userIds"]
               if i in by_id and by_id[i].org_id == org_id and by_id[i].role != "VIEWER" and by_id[i].deactivated_at is None]
        department_id = by_id[ids[0]].department_id if ids else None
    else:
        department_id = await session.scalar(
            select(m.Department.id).where(m.Department.org_id == org_id, m.Department.key == step["departmentKey"])
        )
        stmt = (select(m.User.id).where(m.User.department_id == department_id, m.User.role != "VIEWER", m.User.deactivated_at.is_(None))
                .order_by(m.User.id))
        if step["role"]:
            stmt = stmt.where(m.User.role == step["role"])
        ids = list((await session.execute(stmt)).scalars()) if department_id is not None else []
    if not ids and department_id is not None:
        admins = (await session.execute(select(m.User).where(
            m.User.org_id == org_id, m.User.role == "ADMIN", m.User.deactivated_at.is_(None)).order_by(m.User.id))).scalars()
        admins = list(admins)
        ids = [a.id for a in admins]
        department_id = department_id or (admins[0].department_id if admins else None)
    return department_id, ids


def field_value(opp: m.Opportunity, name: str):
    value = getattr(opp, LOCKABLE[name])
    if value is None:
        return None
    if name == "amount":
        return f"{Decimal(value):.2f}"  # the same text on SQLite and PostgreSQL
    return value.isoformat() if hasattr(value, "isoformat") else value


def snapshot(opp: m.Opportunity, locks: list[str]) -> dict:
    return {name: field_value(opp, name) for name in locks}


def differences(before: dict | None, opp: m.Opportunity) -> dict:
    """Locked fields whose value moved away from `before`: name -> [before, now]."""
    if not before:
        return {}
    return {name: [old, field_value(opp, name)] for name, old in before.items() if name in LOCKABLE and field_value(opp, name) != old}


def still_valid(approval: m.Approval, opp: m.Opportunity) -> bool:
    """An APPROVED approval counts only while the card matches what was approved."""
    return approval.status == "APPROVED" and not differences(approval.snapshot_approved, opp)


TIMEOUT_HOURS = ("remindAfterHours", "escalateAfterHours", "finalAfterHours")


def due_at(step: m.ApprovalStep):
    """When an open step's approvers are first chased: its earliest timeout."""
    hours = next((h for h in ((step.timeouts or {}).get(k) for k in TIMEOUT_HOURS) if h), None)
    return step.opened_at + timedelta(hours=hours) if step.opened_at and hours else None
