"""The event log as GraphQL: BoardEvent, the `events` query."""
import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from resolvers import events as rules
from schema.errors import SIGNED_IN
from schema.people import User
from schema.relay import Connection

if TYPE_CHECKING:
    from schema.approvals import Approval
    from schema.comments import Comment
    from schema.handoffs import Handoff
    from schema.opportunities import Opportunity
    from schema.tasks import Task

BoardEventType = strawberry.enum(Enum("BoardEventType", {t: t for t in rules.EVENT_TYPES}, type=str))


@strawberry.type
class BoardEvent:
    seq: int
    type: BoardEventType
    occurred_at: datetime.datetime
    department_keys: list[str]
    changes: JSON | None

    @strawberry.field
    async def actor(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.actor_id) if self.actor_id else None

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")] | None:
        return await info.context.loaders.opportunity.load(self.opportunity_id) if self.opportunity_id else None

    @strawberry.field
    async def task(self, info: strawberry.Info) -> Annotated["Task", strawberry.lazy("schema.tasks")] | None:
        return await info.context.loaders.task.load(self.task_id) if self.task_id else None

    @strawberry.field
    async def comment(self, info: strawberry.Info) -> Annotated["Comment", strawberry.lazy("schema.comments")] | None:
        return await info.context.loaders.comment.load(self.comment_id) if self.comment_id else None

    @strawberry.field
    async def handoff(self, info: strawberry.Info) -> Annotated["Handoff", strawberry.lazy("schema.handoffs")] | None:
        return await info.context.loaders.handoff.load(self.handoff_id) if self.handoff_id else None

    @strawberry.field
    async def approval(self, info: strawberry.Info) -> Annotated["Approval", strawberry.lazy("schema.approvals")] | None:
        return await info.context.loaders.approval.load(self.approval_id) if self.approval_id else None


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, description="Events with seq > after, oldest first (for clients that poll)")
    async def events(self, info: strawberry.Info, after: int | None = None, first: int | None = None) -> Connection[BoardEvent]:
        return Connection(page=await rules.list_events(info.context, after, first))
