"""The event log as GraphQL: BoardEvent, the `events` query and the live subscriptions."""
import datetime
from collections.abc import AsyncGenerator
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from db.loaders import MAX_FIELD_CHANGES
from resolvers import events as rules
from resolvers import live
from schema.errors import SIGNED_IN
from schema.limits import at_most
from schema.people import User
from schema.relay import Connection

if TYPE_CHECKING:
    from schema.approvals import Approval
    from schema.comments import Comment
    from schema.handoffs import Handoff
    from schema.notifications import Notification
    from schema.opportunities import Opportunity, Stage
    from schema.tasks import Task

BoardEventType = strawberry.enum(Enum("BoardEventType", {t: t for t in rules.EVENT_TYPES}, type=str))


@strawberry.type(description="One field's value before and after a change")
class FieldChange:
    field: str
    before: JSON | None
    after: JSON | None


async def moved_stage(event, info, end: int):
    """The stage a move left (end 0) or entered (end 1), from its `changes`."""
    stage = (event.changes or {}).get("stage") if event.type in ("OPPORTUNITY_MOVED", "OPPORTUNITY_LOST") else None
    if not stage or event.opportunity_id is None:
        return None
    card = await info.context.loaders.opportunity.load(event.opportunity_id)
    stages = await info.context.loaders.every_stage_by_pipeline.load(card.pipeline_id) if card else []  # archived ones too
    return next((st for st in stages if st.key == stage[end]), None)


@strawberry.type
class BoardEvent:
    seq: int
    type: BoardEventType
    occurred_at: datetime.datetime
    department_keys: list[str]
    changes: JSON | None
    snapshot: JSON | None = strawberry.field(
        description="The card when the event happened (title, stage, department, account, amount, currency, ...); fields withheld from the viewer are null"
    )

    @strawberry.field(metadata=at_most(MAX_FIELD_CHANGES), description=(
        "`changes` typed: each changed field with its value before and after (entries of `changes` "
        "that are not a [before, after] pair, such as an approval's kind, are left out)"))
    def field_changes(self) -> list[FieldChange]:
        pairs = [(k, v) for k, v in (self.changes or {}).items() if isinstance(v, list) and len(v) == 2]
        return [FieldChange(field=k, before=v[0], after=v[1]) for k, v in pairs[:MAX_FIELD_CHANGES]]

    @strawberry.field(description="A move's stage left (OPPORTUNITY_MOVED, OPPORTUNITY_LOST); null otherwise")
    async def from_stage(self, info: strawberry.Info) -> Annotated["Stage", strawberry.lazy("schema.opportunities")] | None:
        return await moved_stage(self, info, 0)

    @strawberry.field(description="A move's stage entered (OPPORTUNITY_MOVED, OPPORTUNITY_LOST); null otherwise")
    async def to_stage(self, info: strawberry.Info) -> Annotated["Stage", strawberry.lazy("schema.opportunities")] | None:
        return await moved_stage(self, info, 1)

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


@strawberry.type(name="BoardEventConnection")
class EventConnection(Connection[BoardEvent]):
    """A page of events, and how far the organization's log reaches: resume a client from
    `headSeq`; a cursor below `oldestSeq - 1` answers RESYNC_REQUIRED."""

    async def _bounds(self, info: strawberry.Info) -> tuple[int, int]:
        if getattr(self.page, "bounds", None) is None:
            self.page.bounds = await rules.log_bounds(info.context)
        return self.page.bounds

    @strawberry.field(description=(
        "The newest seq in the organization's log (0 before any event), whatever the page holds: "
        "a client starts `boardEvents(after: headSeq)` after loading its view"))
    async def head_seq(self, info: strawberry.Info) -> int:
        return (await self._bounds(info))[1]

    @strawberry.field(description=(
        "The oldest seq the log may still hold (retention removed those below it; 1 when nothing was "
        "removed): `after` below oldestSeq - 1 answers RESYNC_REQUIRED"))
    async def oldest_seq(self, info: strawberry.Info) -> int:
        return (await self._bounds(info))[0] + 1


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, description=(
        "Events with seq > after, oldest first (for clients that poll), narrowed like the boardEvents "
        "subscription: any of departmentKeys, these types, one opportunity"))
    async def events(
        self, info: strawberry.Info, after: int | None = None, first: int | None = None,
        department_keys: list[str] | None = None, types: list[BoardEventType] | None = None,
        opportunity_id: strawberry.ID | None = None,
    ) -> EventConnection:
        flt = {"department_keys": department_keys, "types": [t.value for t in types] if types is not None else None,
               "opportunity_id": opportunity_id}
        return EventConnection(page=await rules.list_events(info.context, after, first, flt))

    @strawberry.field(**SIGNED_IN)
    async def configuration_log(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None, subject: str | None = None,
    ) -> EventConnection:
        return EventConnection(page=await rules.configuration_log(info.context, first, after, subject))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        **SIGNED_IN,
        description=(
            "Every event the viewer may see, optionally narrowed. With `after`, first replays stored events "
            "with seq > after, then continues live, with no gap and no duplicate."
        ),
    )
    async def board_events(
        self,
        info: strawberry.Info,
        after: int | None = None,
        department_keys: list[str] | None = None,
        types: list[BoardEventType] | None = None,
        opportunity_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[BoardEvent, None]:
        # The resolver's own generator, not a re-yielding wrapper: one async generator
        # step less per delivered event. (With a batch-capable transport, replayed
        # events arrive as live.ReplayBatch items; see api/live/execution.py.)
        return live.board_events(info.context, after, department_keys, types, opportunity_id)

    @strawberry.subscription(**SIGNED_IN, description="The viewer's new notifications, as they happen")
    async def notification_added(
        self, info: strawberry.Info
    ) -> AsyncGenerator[Annotated["Notification", strawberry.lazy("schema.notifications")], None]:
        async for notification in live.notification_added(info.context):
            yield notification
