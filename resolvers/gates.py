"""Stage gates: what a card needs before it may enter a stage, and the stage's
automatic approval requested when a move is refused for want of it."""
import logging

from db import models as m
from resolvers.approvals import departments_for, has_approval, open_approval
from resolvers.context import Ctx
from resolvers.errors import STAGE_GATE, UserError
from resolvers.ids import to_global
from resolvers.rows import locked_opportunity
from resolvers.uow import UnitOfWork, run_in_transaction

log = logging.getLogger("baton.approvals")  # the logger these failures have always used

# Gate field names (as in the API) -> model attribute and words for messages.
GATE_FIELDS = {
    "amount": ("amount", "amount"),
    "expectedCloseDate": ("expected_close_date", "expected close date"),
    "probability": ("probability", "probability"),
    "nextStep": ("next_step", "next step"),
    "lostReason": ("lost_reason", "lost reason"),
}


async def gate_problems(session, opp: m.Opportunity, stage: m.Stage) -> tuple[list[str], list[str]]:
    """(missing field names, missing approval kinds) for `opp` to enter `stage`."""
    missing_fields = [f for f in stage.required_fields or [] if getattr(opp, GATE_FIELDS.get(f, (f,))[0], None) in (None, "")]
    missing_approvals = [
        kind for kind in stage.required_approvals or [] if not await has_approval(session, opp.id, kind, ("APPROVED",))
    ]
    return missing_fields, missing_approvals


def gate_error(stage: m.Stage, missing_fields: list[str], missing_approvals: list[str]) -> UserError:
    parts = [GATE_FIELDS.get(f, (f, f))[1] for f in missing_fields]
    parts += [f"an approved {kind} approval" for kind in missing_approvals]
    return UserError(
        STAGE_GATE,
        f"{stage.name} needs {', '.join(parts)} first",
        missing_fields + [f"approval:{kind}" for kind in missing_approvals],
    )


async def move_refusal(session, opp: m.Opportunity, stage: m.Stage) -> tuple[UserError | None, dict | None]:
    """(why `opp` may not move into `stage`, the stage's automatic approval rule to
    request once the refused move has rolled back); (None, None) when it may."""
    missing_fields, missing_approvals = await gate_problems(session, opp, stage)
    if not (missing_fields or missing_approvals):
        return None, None
    error = gate_error(stage, missing_fields, missing_approvals)
    rule = stage.auto_approval
    if not (rule and rule.get("kind") in missing_approvals):
        return error, None
    if await has_approval(session, opp.id, rule["kind"], ("PENDING",)):
        return UserError(error.code, f"{error.message} (a {rule['kind']} approval is pending)", error.field), None
    return UserError(error.code, f"{error.message}; a {rule['kind']} approval has been requested", error.field), rule


async def auto_request(ctx: Ctx, opportunity_id: int, rule: dict) -> m.Approval | None:
    """The stage gate's automatic approval, in its own transaction (the refused move
    rolled back). Re-checked under the lock: nothing happens when one already exists."""

    async def work(uow: UnitOfWork) -> m.Approval | None:
        opp = await locked_opportunity(uow, to_global("Opportunity", opportunity_id))
        kind = rule["kind"]
        if await has_approval(uow.session, opp.id, kind, ("PENDING", "APPROVED")):
            return None
        departments = await departments_for(uow.session, uow.org_id, rule.get("departmentKeys"))
        return await open_approval(uow, opp, kind, departments, rule.get("mode") or "SEQUENTIAL", "Requested by the stage gate")

    try:
        return await run_in_transaction(ctx, work)
    except Exception:  # noqa: BLE001 - a broken rule must not hide the gate's answer
        log.exception("automatic %s approval for opportunity %s failed", rule.get("kind"), opportunity_id)
        return None
