"""Approvals and their steps."""
import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
from db.loaders import MAX_APPROVALS, MAX_DEPARTMENTS
from resolvers import approvals as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.people import Department, User
from schema.relay import Node, global_id

if TYPE_CHECKING:
    from schema.opportunities import Opportunity


@strawberry.enum
class ApprovalStatus(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


@strawberry.enum
class ApprovalMode(str, Enum):
    SEQUENTIAL = "SEQUENTIAL"
    PARALLEL = "PARALLEL"


@strawberry.type
class ApprovalStep:
    position: int
    status: ApprovalStatus
    decided_at: datetime.datetime | None
    comment: str | None
    opened_at: datetime.datetime | None = strawberry.field(
        description="When the step became decidable; null while it waits for an earlier step"
    )

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.department_id)

    @strawberry.field
    async def decided_by(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.decided_by_id) if self.decided_by_id else None


@strawberry.type
class Approval(Node):
    id: strawberry.ID = global_id("Approval")
    kind: str
    mode: ApprovalMode
    status: ApprovalStatus
    created_at: datetime.datetime
    decided_at: datetime.datetime | None
    comment: str | None = strawberry.field(description="What the requester wrote when asking for the approval")

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")]:
        return await info.context.loaders.opportunity.load(self.opportunity_id)

    @strawberry.field(metadata=at_most(MAX_DEPARTMENTS))
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
        rows = await rules.list_approvals(info.context, department_key, [s.value for s in status] if status else None)
        return rows[:MAX_APPROVALS]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def request_approval(self, info: strawberry.Info, input: RequestApprovalInput) -> ApprovalPayload:
        return payload(await rules.request_approval(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN)
    async def decide_approval(self, info: strawberry.Info, input: DecideApprovalInput) -> ApprovalPayload:
        return payload(await rules.decide_approval(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="The requester (or an admin) withdraws a pending approval")
    async def cancel_approval(self, info: strawberry.Info, input: CancelApprovalInput) -> ApprovalPayload:
        return payload(await rules.cancel_approval(info.context, to_data(input)))
