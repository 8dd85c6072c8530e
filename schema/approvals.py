"""Approvals and their steps."""
import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
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

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")]:
        return await info.context.loaders.opportunity.load(self.opportunity_id)

    @strawberry.field
    async def steps(self, info: strawberry.Info) -> list[ApprovalStep]:
        return await info.context.loaders.steps_by_approval.load(self.id)

    @strawberry.field
    async def requested_by(self, info: strawberry.Info) -> User:
        return await info.context.loaders.user.load(self.requested_by_id)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Approval)
