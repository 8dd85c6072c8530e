"""Approvals and their steps."""
import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from db import models as m
from db.loaders import MAX_APPROVAL_ACTIONS, MAX_APPROVAL_STEPS, MAX_APPROVALS, MAX_STEP_APPROVERS
from resolvers import approval_actions as actions
from resolvers import approval_rules as rules
from resolvers import approvals
from resolvers.ids import to_global
from resolvers.visibility import redact_values
from schema.errors import SIGNED_IN, UserError
from schema.events import FieldChange
from schema.inputs import to_data
from schema.limits import at_most
from schema.people import Department, Role, User
from schema.relay import AFTER, FIRST, Connection, Node, global_id

if TYPE_CHECKING:
    from schema.opportunities import Opportunity


@strawberry.enum(description=(
    "RETURNED: sent back to the requester, who may edit and resubmit it. SUPERSEDED: was approved, "
    "but a field it locked changed since. SKIPPED (steps): the step's condition does not hold for the card"
))
class ApprovalStatus(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    RETURNED = "RETURNED"
    SUPERSEDED = "SUPERSEDED"
    SKIPPED = "SKIPPED"


@strawberry.enum
class ApprovalMode(str, Enum):
    SEQUENTIAL = "SEQUENTIAL"
    PARALLEL = "PARALLEL"


@strawberry.enum(description="Who decides a step: ALL its approvers (会签), ANY one (或签), or minApprovals of them")
class ApprovalStepMode(str, Enum):
    ALL = "ALL"
    ANY = "ANY"
    COUNT = "COUNT"


@strawberry.enum(description="What someone (or, with no user, a step's timeout) did to an approval")
class ApprovalActionKind(str, Enum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RETURNED = "RETURNED"
    RESUBMITTED = "RESUBMITTED"
    TRANSFERRED = "TRANSFERRED"
    SIGNER_ADDED = "SIGNER_ADDED"
    URGED = "URGED"
    CANCELLED = "CANCELLED"
    REMINDED = "REMINDED"
    ESCALATED = "ESCALATED"


@strawberry.type
class ApprovalDecision:
    action: ApprovalActionKind
    comment: str | None
    at: datetime.datetime

    @strawberry.field(description="Who acted; null for a step's timeout")
    async def user(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.user_id) if self.user_id else None

    @strawberry.field(description="Whom a transfer or an added signer named")
    async def target_user(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.target_user_id) if self.target_user_id else None


@strawberry.type
class ApprovalStep:
    @strawberry.field(description=(
        "Stable global id of the step (from its own row, not its position: a signer added before it "
        "moves its position, not its id)"
    ))
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global("ApprovalStep", self.id))

    position: int
    status: ApprovalStatus
    decided_at: datetime.datetime | None
    comment: str | None
    opened_at: datetime.datetime | None = strawberry.field(
        description="When the step became decidable; null while it waits for an earlier step"
    )
    min_approvals: int | None = strawberry.field(description="With mode COUNT: approvals the step needs")
    role: Role | None = strawberry.field(description="Approvers are this role of the department; null: any member")
    urged_at: datetime.datetime | None = strawberry.field(description="Last 催办; urging again waits an hour")

    @strawberry.field
    def mode(self) -> ApprovalStepMode:
        return ApprovalStepMode(self.sign_mode)

    @strawberry.field(description="The step applies only from this amount (in the card's currency); else it is SKIPPED")
    def amount_at_least(self) -> Decimal | None:
        threshold = (self.condition or {}).get("amountAtLeast")
        return Decimal(threshold) if threshold is not None else None

    @strawberry.field(description="When the approvers are reminded: the step's first timeout after it opened")
    def due_at(self) -> datetime.datetime | None:
        return rules.due_at(self)

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.department_id)

    @strawberry.field
    async def decided_by(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.decided_by_id) if self.decided_by_id else None

    @strawberry.field(metadata=at_most(MAX_STEP_APPROVERS), description="Who decides this step (transferred ones left out)")
    async def approvers(self, info: strawberry.Info) -> list[User]:
        rows = await info.context.loaders.approvers_by_step.load(self.id)
        return list(await info.context.loaders.user.load_many([r.user_id for r in rows if r.status != "TRANSFERRED"]))

    @strawberry.field(metadata=at_most(MAX_STEP_APPROVERS), description="The approvers who approved")
    async def approved_by(self, info: strawberry.Info) -> list[User]:
        rows = await info.context.loaders.approvers_by_step.load(self.id)
        return list(await info.context.loaders.user.load_many([r.user_id for r in rows if r.status == "APPROVED"]))

    @strawberry.field(metadata=at_most(MAX_APPROVAL_ACTIONS), description="Who did what on this step, oldest first")
    async def decisions(self, info: strawberry.Info) -> list[ApprovalDecision]:
        return [a for a in await info.context.loaders.actions_by_approval.load(self.approval_id) if a.step_id == self.id]


@strawberry.type
class Approval(Node):
    id: strawberry.ID = global_id("Approval")
    kind: str
    mode: ApprovalMode
    status: ApprovalStatus
    created_at: datetime.datetime
    decided_at: datetime.datetime | None
    comment: str | None = strawberry.field(description="What the requester wrote when asking for the approval")
    urge_count: int = strawberry.field(description="How often the requester or owner urged it (催办)")
    locks: list[str] = strawberry.field(description="Card fields that cannot change while it is pending")

    # The snapshots hold card fields: the viewer's access rule withholds them as on the card.
    @strawberry.field(description="The locked fields' values when first requested (withheld fields are null)")
    def snapshot_requested(self, info: strawberry.Info) -> JSON | None:
        return redact_values(info.context.access, self.snapshot_requested) if self.snapshot_requested else None

    @strawberry.field(description="The locked fields' values when approved (withheld fields are null)")
    def snapshot_approved(self, info: strawberry.Info) -> JSON | None:
        return redact_values(info.context.access, self.snapshot_approved) if self.snapshot_approved else None

    @strawberry.field(metadata=at_most(len(rules.LOCKABLE)),
                      description="Locked fields whose value differs from the request (or, once approved, from the approval); "
                                  "a field withheld from the viewer shows null before and after")
    async def changes(self, info: strawberry.Info) -> list[FieldChange]:
        opp = await info.context.loaders.opportunity.load(self.opportunity_id)
        base = self.snapshot_approved if self.status in ("APPROVED", "SUPERSEDED") else self.snapshot_requested
        withheld = info.context.access.hidden if info.context.access is not None else frozenset()
        return [FieldChange(field=k, before=None if k in withheld else b, after=None if k in withheld else a)
                for k, (b, a) in rules.differences(base, opp).items()]

    @strawberry.field(metadata=at_most(MAX_APPROVAL_ACTIONS), description="Everything done to it, oldest first")
    async def decisions(self, info: strawberry.Info) -> list[ApprovalDecision]:
        return await info.context.loaders.actions_by_approval.load(self.id)

    @strawberry.field(description="The viewer decides an open step now: may approve, reject, return, transfer, add signers")
    async def viewer_can_decide(self, info: strawberry.Info) -> bool:
        viewer = info.context.viewer
        if self.status != "PENDING" or viewer.scope != "write" or viewer.role == "VIEWER":
            return False
        for step in await info.context.loaders.steps_by_approval.load(self.id):
            if step.status == "PENDING" and step.opened_at is not None:
                rows = await info.context.loaders.approvers_by_step.load(step.id)
                if viewer.is_admin or any(r.user_id == viewer.id and r.status == "PENDING" for r in rows):
                    return True
        return False

    @strawberry.field(description="The viewer may urge it (the requester, the card's owner, an admin)")
    async def viewer_can_urge(self, info: strawberry.Info) -> bool:
        viewer = info.context.viewer
        if self.status != "PENDING" or viewer.scope != "write" or viewer.role == "VIEWER":
            return False
        opp = await info.context.loaders.opportunity.load(self.opportunity_id)
        return viewer.is_admin or viewer.id in (self.requested_by_id, opp.owner_id)

    @strawberry.field(description="The viewer may resubmit (when RETURNED) or withdraw it: the requester or an admin")
    def viewer_is_requester(self, info: strawberry.Info) -> bool:
        viewer = info.context.viewer
        return viewer.scope == "write" and viewer.role != "VIEWER" and (viewer.is_admin or viewer.id == self.requested_by_id)

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")]:
        return await info.context.loaders.opportunity.load(self.opportunity_id)

    @strawberry.field(metadata=at_most(MAX_APPROVAL_STEPS))
    async def steps(self, info: strawberry.Info) -> list[ApprovalStep]:
        return await info.context.loaders.steps_by_approval.load(self.id)

    @strawberry.field
    async def requested_by(self, info: strawberry.Info) -> User:
        return await info.context.loaders.user.load(self.requested_by_id)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Approval)


@strawberry.input
class RequestApprovalInput:
    opportunity_id: strawberry.ID
    kind: str
    department_keys: list[str]
    mode: ApprovalMode | None = strawberry.UNSET
    comment: str | None = strawberry.UNSET


@strawberry.input
class DecideApprovalInput:
    id: strawberry.ID
    approve: bool
    comment: str | None = strawberry.UNSET


@strawberry.input
class CancelApprovalInput:
    id: strawberry.ID


@strawberry.input
class ReturnApprovalInput:
    id: strawberry.ID
    comment: str
    to_step: int | None = strawberry.field(default=strawberry.UNSET, description="An earlier step's position; null: back to the requester")


@strawberry.input
class ResubmitApprovalInput:
    id: strawberry.ID
    comment: str | None = strawberry.UNSET


@strawberry.input
class TransferApprovalStepInput:
    id: strawberry.ID
    to_user_id: strawberry.ID
    comment: str | None = strawberry.UNSET


@strawberry.enum
class SignerPlacement(str, Enum):
    BEFORE = "BEFORE"
    AFTER = "AFTER"
    WITH = "WITH"


@strawberry.input
class AddApprovalSignerInput:
    id: strawberry.ID
    user_id: strawberry.ID
    placement: SignerPlacement
    comment: str | None = strawberry.UNSET


@strawberry.input
class UrgeApprovalInput:
    id: strawberry.ID
    comment: str | None = strawberry.UNSET


@strawberry.type
class ApprovalPayload:
    approval: Approval | None
    user_errors: list[UserError]


def payload(result) -> ApprovalPayload:
    approval, errors = result
    return ApprovalPayload(approval=approval, user_errors=errors)


@strawberry.type
class Query:
    @strawberry.field(
        **SIGNED_IN, metadata=at_most(MAX_APPROVALS),
        description="Approvals, newest first; with departmentKey, those with a step for it",
    )
    async def approvals(
        self, info: strawberry.Info, department_key: str | None = None, status: list[ApprovalStatus] | None = None
    ) -> list[Approval]:
        rows = await approvals.list_approvals(info.context, department_key, [s.value for s in status] if status else None)
        return rows[:MAX_APPROVALS]

    @strawberry.field(**SIGNED_IN, description=(
        "The approval kinds the organization configures (required by a stage or defined by a stage approval rule), "
        "sorted: offer these. `requestApproval` refuses a near miss of one (\"discnt\") with VALIDATION on field `kind`; "
        "another kind opens an ad-hoc approval that no stage gate asks for"
    ))
    async def approval_kinds(self, info: strawberry.Info) -> list[str]:
        return await approvals.list_approval_kinds(info.context)

    @strawberry.field(
        **SIGNED_IN,
        description=(
            "Approvals in pages, newest first, with the same filters and visibility as `approvals` "
            "(only approvals of cards the viewer sees) but without its 500-row cut"
        ),
    )
    async def approvals_connection(
        self, info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        department_key: Annotated[str | None, strawberry.argument(description="Only approvals with a step for this department (its work queue)")] = None,
        status: Annotated[list[ApprovalStatus] | None, strawberry.argument(description="Only approvals in one of these statuses")] = None,
    ) -> Connection[Approval]:
        statuses = [s.value for s in status] if status else None
        return Connection(page=await approvals.approvals_page(info.context, department_key, statuses, first, after))


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def request_approval(self, info: strawberry.Info, input: RequestApprovalInput) -> ApprovalPayload:
        return payload(await approvals.request_approval(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN)
    async def decide_approval(self, info: strawberry.Info, input: DecideApprovalInput) -> ApprovalPayload:
        return payload(await approvals.decide_approval(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="The requester (or an admin) withdraws a pending approval")
    async def cancel_approval(self, info: strawberry.Info, input: CancelApprovalInput) -> ApprovalPayload:
        return payload(await approvals.cancel_approval(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="退回: send it back to an earlier step, or (no toStep) to the requester")
    async def return_approval(self, info: strawberry.Info, input: ReturnApprovalInput) -> ApprovalPayload:
        return payload(await actions.return_approval(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="The requester continues a RETURNED approval after editing the card")
    async def resubmit_approval(self, info: strawberry.Info, input: ResubmitApprovalInput) -> ApprovalPayload:
        return payload(await actions.resubmit_approval(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="转交: hand my pending decision on a step to a colleague")
    async def transfer_approval_step(self, info: strawberry.Info, input: TransferApprovalStepInput) -> ApprovalPayload:
        return payload(await actions.transfer_approval_step(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="加签: add an approver as a step before or after mine, or into my step")
    async def add_approval_signer(self, info: strawberry.Info, input: AddApprovalSignerInput) -> ApprovalPayload:
        return payload(await actions.add_approval_signer(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="催办: remind the open step's approvers (once an hour per step)")
    async def urge_approval(self, info: strawberry.Info, input: UrgeApprovalInput) -> ApprovalPayload:
        return payload(await actions.urge_approval(info.context, to_data(input)))


# ---------------------------------------------------------------- stage rules (typed form of Stage.autoApproval)


@strawberry.enum(description="What a step's final timeout does")
class ApprovalTimeoutAction(str, Enum):
    RETURN = "RETURN"
    APPROVE = "APPROVE"


@strawberry.type
class ApprovalRuleStep:
    role: Role | None
    min_approvals: int | None
    remind_after_hours: int | None = strawberry.field(description="Remind the approvers this long after the step opens")
    escalate_after_hours: int | None = strawberry.field(
        description="Then notify the department's managers; admins after twice as long"
    )
    final_after_hours: int | None
    final_action: ApprovalTimeoutAction | None
    amount_at_least: Decimal | None = strawberry.field(description="The step applies only from this amount")
    department_key: str | None
    user_ids: strawberry.Private[list[int]]
    sign_mode: strawberry.Private[str]

    @strawberry.field
    def mode(self) -> ApprovalStepMode:
        return ApprovalStepMode(self.sign_mode)

    @strawberry.field(metadata=at_most(MAX_STEP_APPROVERS), description="Named approvers (empty when the step names a department)")
    async def approvers(self, info: strawberry.Info) -> list[User]:
        users = await info.context.loaders.user.load_many(self.user_ids[:MAX_STEP_APPROVERS])
        return [u for u in users if u is not None]


@strawberry.type
class ApprovalRule:
    kind: str
    mode: ApprovalMode
    locks: list[str]
    steps: list[ApprovalRuleStep] = strawberry.field(metadata=at_most(MAX_APPROVAL_STEPS))


def rule_type(rule: dict | None) -> ApprovalRule | None:
    rule = rules.normalized(rule)
    if rule is None:
        return None
    return ApprovalRule(kind=rule["kind"], mode=ApprovalMode(rule["mode"]), locks=rule["locks"], steps=[
        ApprovalRuleStep(
            department_key=st["departmentKey"], role=Role(st["role"]) if st["role"] else None, user_ids=st["userIds"],
            sign_mode=st["signMode"], min_approvals=st["minApprovals"],
            amount_at_least=Decimal(st["amountAtLeast"]) if st["amountAtLeast"] is not None else None,
            remind_after_hours=st["remindAfterHours"], escalate_after_hours=st["escalateAfterHours"],
            final_after_hours=st["finalAfterHours"],
            final_action=ApprovalTimeoutAction(st["finalAction"]) if st["finalAction"] else None,
        ) for st in rule["steps"][:MAX_APPROVAL_STEPS]
    ])


@strawberry.input
class ApprovalRuleStepInput:
    department_key: str | None = strawberry.field(default=None, description="Approvers: this department's members…")
    role: Role | None = strawberry.field(default=None, description="…of this role only")
    user_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Or: these named users")
    mode: ApprovalStepMode = ApprovalStepMode.ANY
    min_approvals: int | None = None
    amount_at_least: Decimal | None = None
    remind_after_hours: int | None = None
    escalate_after_hours: int | None = None
    final_after_hours: int | None = None
    final_action: ApprovalTimeoutAction | None = None


@strawberry.input
class ApprovalRuleInput:
    kind: str
    steps: list[ApprovalRuleStepInput]
    mode: ApprovalMode = ApprovalMode.SEQUENTIAL
    locks: list[str] | None = strawberry.field(default=None, description="Default: amount, currency, account, expectedCloseDate")


def rule_json(rule: ApprovalRuleInput | None) -> dict | None:
    """The input in the stored rule shape, for resolvers.approval_rules.clean_rule."""
    if rule is None:
        return None
    plain = {"kind": rule.kind, "mode": rule.mode.value, "steps": [{
        "departmentKey": st.department_key, "role": st.role.value if st.role else None, "userIds": list(st.user_ids or []),
        "signMode": st.mode.value, "minApprovals": st.min_approvals,
        "amountAtLeast": str(st.amount_at_least) if st.amount_at_least is not None else None,
        "remindAfterHours": st.remind_after_hours, "escalateAfterHours": st.escalate_after_hours,
        "finalAfterHours": st.final_after_hours, "finalAction": st.final_action.value if st.final_action else None,
    } for st in rule.steps]}
    if rule.locks is not None:
        plain["locks"] = rule.locks
    return plain
