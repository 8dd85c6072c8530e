"""Stage gates: what a card needs before it may enter a stage, and the stage's
automatic approval requested when a move is refused for want of it.

Gates are cumulative: moving forward past stages needs the gates of every stage
skipped as well as the one entered (lead → won needs the contract approval).
Moving back, or to a LOST stage, needs only the target's own gate. An approval
satisfies a gate only while the card still matches what was approved."""
import logging

from sqlalchemy import select

from db import models as m
from resolvers import approval_rules as rules
from resolvers.approvals import has_approval, open_approval
from resolvers.attachments import kind_words, kinds_on_card
from resolvers.context import Ctx
from resolvers.errors import STAGE_GATE, UserError
from resolvers.i18n import Msg, escape, msg
from resolvers.ids import to_global
from resolvers.rows import locked_opportunity
from resolvers.stage_work import deliverables_error, missing_deliverables
from resolvers.uow import UnitOfWork, run_in_transaction

log = logging.getLogger("baton.approvals")  # the logger these failures have always used

# Gate field names (as in the API) -> model attribute and words for messages.
GATE_FIELDS = {
    "amount": ("amount", msg("amount")),
    "expectedCloseDate": ("expected_close_date", msg("expected close date")),
    "probability": ("probability", msg("probability")),
    "nextStep": ("next_step", msg("next step")),
    "lostReason": ("lost_reason", msg("lost reason")),
}


def gated_path(stages: list[m.Stage], current: m.Stage | None, target: m.Stage) -> list[m.Stage]:
    """The stages whose gates a card must satisfy going from `current` (None: a new
    card) to `target`: the target, and on the way forward every OPEN or WON stage
    skipped and the one it leaves (a superseded contract approval holds a card in
    Contract). A card reopened from Lost passes every gate up to its target."""
    if target.kind == "LOST":
        return [target]
    if current is None or current.kind == "LOST":
        start = 0
    elif target.position < current.position:
        return [target]
    else:
        start = current.position
    return [st for st in stages if start <= st.position < target.position and st.kind != "LOST"] + [target]


async def valid_approval_kinds(session, opp: m.Opportunity) -> set[str]:
    """Kinds with an APPROVED approval whose snapshot still matches the card."""
    if opp.id is None:
        return set()
    approved = (await session.execute(select(m.Approval).where(
        m.Approval.opportunity_id == opp.id, m.Approval.status == "APPROVED"))).scalars()
    return {a.kind for a in approved if rules.still_valid(a, opp)}


async def gate_problems(session, opp: m.Opportunity, path: list[m.Stage]) -> tuple[list[str], list[str], list[str]]:
    """(missing field names, missing approval kinds, missing attachment kinds) for `opp`
    to pass every stage of `path`. A card being created has no files yet and is not held
    for them: it needs them to move on (a forward move passes the gate it leaves)."""
    required_fields = list(dict.fromkeys(f for st in path for f in st.required_fields or []))
    required_kinds = list(dict.fromkeys(k for st in path for k in st.required_approvals or []))
    required_files = list(dict.fromkeys(k for st in path for k in getattr(st, "required_files", None) or []))
    missing_fields = [f for f in required_fields if getattr(opp, GATE_FIELDS.get(f, (f,))[0], None) in (None, "")]
    valid = await valid_approval_kinds(session, opp) if required_kinds else set()
    attached = await kinds_on_card(session, opp.id) if required_files and opp.id is not None else set(required_files)
    return missing_fields, [k for k in required_kinds if k not in valid], [k for k in required_files if k not in attached]


def gate_error(stage: m.Stage, missing_fields: list[str], missing_approvals: list[str], missing_files: list[str] = ()) -> UserError:
    """STAGE_GATE naming what is missing; `field` lists gate fields, `approval:<kind>` and
    `file:<kind>` (the attachment kind to upload), so clients can offer the right form."""
    parts = [GATE_FIELDS[f][1] if f in GATE_FIELDS else Msg(escape(f)) for f in missing_fields]
    parts += [msg("an approved {kind} approval", kind=kind) for kind in missing_approvals]
    parts += [kind_words(kind) for kind in missing_files]
    return UserError(
        STAGE_GATE,
        "{stage} needs {parts} first",
        missing_fields + [f"approval:{kind}" for kind in missing_approvals] + [f"file:{kind}" for kind in missing_files],
        {"stage": stage.name, "parts": parts},
    )


async def move_refusal(session, opp: m.Opportunity, stages: list[m.Stage], path: list[m.Stage]) -> tuple[UserError | None, dict | None]:
    """(why `opp` may not pass `path` into its last stage, the automatic approval rule
    to request once the refused move has rolled back); (None, None) when it may.
    Deliverables come after fields and approvals: one answer says what to do next."""
    missing_fields, missing_approvals, missing_files = await gate_problems(session, opp, path)
    if not (missing_fields or missing_approvals or missing_files):
        missing = await missing_deliverables(session, opp, stages, path)
        return (deliverables_error(path[-1], missing) if missing else None), None
    error = gate_error(path[-1], missing_fields, missing_approvals, missing_files)
    rule = next((rules.normalized(st.auto_approval) for st in path
                 if st.auto_approval and st.auto_approval.get("kind") in missing_approvals), None)
    if rule is None:
        return error, None
    if await has_approval(session, opp.id, rule["kind"], ("PENDING",)):
        return UserError(error.code, "{gate} (a {kind} approval is pending)", error.field, params={"gate": Msg(error.template, error.params), "kind": rule["kind"]}), None
    if await has_approval(session, opp.id, rule["kind"], ("RETURNED",)):
        return UserError(error.code, "{gate} (the {kind} approval was returned: edit and resubmit it)", error.field, params={"gate": Msg(error.template, error.params), "kind": rule["kind"]}), None
    return UserError(error.code, "{gate}; a {kind} approval has been requested", error.field, params={"gate": Msg(error.template, error.params), "kind": rule["kind"]}), rule


async def auto_request(ctx: Ctx, opportunity_id: int, rule: dict) -> m.Approval | None:
    """The stage gate's automatic approval, in its own transaction (the refused move
    rolled back). Re-checked under the lock: nothing happens when one is open or holds."""

    rule = rules.normalized(rule)

    async def work(uow: UnitOfWork) -> m.Approval | None:
        opp = await locked_opportunity(uow, to_global("Opportunity", opportunity_id))
        kind = rule["kind"]
        if kind in await valid_approval_kinds(uow.session, opp):
            return None
        if await has_approval(uow.session, opp.id, kind, ("PENDING", "RETURNED")):
            return None
        return await open_approval(uow, opp, rule, "Requested by the stage gate")

    try:
        return await run_in_transaction(ctx, work)
    except Exception:  # noqa: BLE001 - a broken rule must not hide the gate's answer
        log.exception("automatic %s approval for opportunity %s failed", rule.get("kind"), opportunity_id)
        return None
