"""Pipelines, stages, accounts, opportunities and the board."""
import datetime
import hashlib
import inspect
import json
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from db import models as m
from db.loaders import MAX_CARD_APPROVALS, MAX_CARD_HANDOFFS, MAX_PIPELINES, MAX_STAGES, ready
from resolvers import accounts as account_rules
from resolvers import attachments as attachment_rules
from resolvers import board as board_rules
from resolvers import comments as comment_rules
from resolvers import events as event_rules
from resolvers import forecast as forecast_rules
from resolvers import opportunities as rules
from resolvers import records as record_rules
from resolvers import stuck as stuck_rules
from resolvers import tasks as task_rules
from resolvers.access import can_edit, can_move, writes
from resolvers.alerts import customer_silent
from resolvers.approval_rules import still_valid
from resolvers.ids import to_global
from resolvers.stage_work import MAX_DELIVERABLES
from resolvers.visibility import HIDDEN_ACCOUNT
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.money import ConvertedTotal, Money
from resolvers.money import MAX_CURRENCIES
from schema.people import Department, User
from schema.relay import Connection, Node, global_id

if TYPE_CHECKING:
    from schema.accounts import OwnershipConflict
    from schema.approvals import Approval, ApprovalRule
    from schema.attachments import Attachment
    from schema.stage_work import DeliverableState, StageDeliverable, StageOwner, StageTime
    from schema.comments import Comment
    from schema.events import EventConnection
    from schema.handoffs import Handoff
    from schema.records import Contact, FollowUp, OpportunityContact
    from schema.tasks import Task


def _nth(value, n: int):
    """Item n of a loaded tuple, or of one still loading."""
    if isinstance(value, tuple):
        return value[n]

    async def later():
        return (await value)[n]

    return later()


def _stuck(info: strawberry.Info, opp: m.Opportunity, pick):
    """`pick` of the card's longest wait (resolvers/stuck.py), from rows the board primed:
    the value itself when they are all loaded, an awaitable otherwise."""
    ctx = info.context
    loaders = ctx.loaders
    parts = [ready(loaders.stage, opp.stage_id), ready(loaders.handoffs_by_opportunity, opp.id),
             ready(loaders.approvals_by_opportunity, opp.id), ready(board_rules.open_task_stats(ctx), opp.id),
             ready(stuck_rules.org_departments(ctx), opp.org_id)]

    def answer(stage, handoffs, approvals, stats, departments, steps):
        waits = stuck_rules.card_waits(opp, stage, handoffs, list(zip(approvals, steps)), departments,
                                       stats[2], stats[1], ctx.clock())
        return pick(waits[0]) if waits else None

    def steps_of(approvals):  # the approvals' loader primed them
        return [ready(loaders.steps_by_approval, a.id) if a.status == "PENDING" else [] for a in approvals]

    if not any(inspect.isawaitable(p) for p in parts):
        steps = steps_of(parts[2])
        if not any(inspect.isawaitable(s) for s in steps):
            return answer(*parts, steps)

    async def later():
        values = [await p if inspect.isawaitable(p) else p for p in parts]
        steps = [await s if inspect.isawaitable(s) else s for s in steps_of(values[2])]
        return answer(*values, steps)

    return later()


@strawberry.enum
class StageKind(str, Enum):
    OPEN = "OPEN"
    WON = "WON"
    LOST = "LOST"


@strawberry.enum
class Priority(str, Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


@strawberry.type
class Stage(Node):
    id: strawberry.ID = global_id("Stage")
    key: str
    name: str
    position: int
    kind: StageKind
    required_fields: list[str]
    required_approvals: list[str]
    required_files: list[str]
    stale_after_hours: int | None
    silence_after_hours: int | None
    pool_after_days: int | None

    @strawberry.field(description="Approval opened automatically when a card asks to enter this stage: "
                      "{kind, departmentKeys, mode} (approvalRule has the whole rule)",
                      deprecation_reason="Use approvalRule: it has every step, its mode, role and conditions. Removal on 2027-12-31")
    def auto_approval(self) -> JSON | None:
        rule = self.auto_approval
        return {"kind": rule["kind"], "departmentKeys": rule.get("departmentKeys", []), "mode": rule.get("mode") or "SEQUENTIAL"} if rule else None

    require_previous_deliverables: bool = strawberry.field(
        description="Entering needs every deliverable of the stage before it ticked")

    @strawberry.field(description="The department owning the stage: a card entering it is handed to them")
    def owner(self) -> Annotated["StageOwner", strawberry.lazy("schema.stage_work")] | None:
        from schema.stage_work import owner_of  # schema.stage_work imports this module

        return owner_of(self)

    @strawberry.field(metadata=at_most(MAX_DELIVERABLES), description="What must be delivered in the stage (交付物)")
    def deliverables(self) -> list[Annotated["StageDeliverable", strawberry.lazy("schema.stage_work")]]:
        from schema.stage_work import deliverables_of

        return deliverables_of(self)

    @strawberry.field
    def archived(self) -> bool:
        return self.archived_at is not None

    @strawberry.field(description="The approval a card asking to enter this stage gets (typed form of autoApproval)")
    def approval_rule(self) -> Annotated["ApprovalRule", strawberry.lazy("schema.approvals")] | None:
        from schema.approvals import rule_type  # schema.approvals imports this module

        return rule_type(self.auto_approval)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Stage)


@strawberry.type
class Pipeline(Node):
    id: strawberry.ID = global_id("Pipeline")
    name: str

    @strawberry.field(metadata=at_most(MAX_STAGES))
    def stages(self, info: strawberry.Info) -> list[Stage]:
        stages = ready(info.context.loaders.stages_by_pipeline, self.id)
        # The loader stops at the bound; stages primed by the board arrive whole.
        return stages[:MAX_STAGES] if isinstance(stages, list) else stages

    @strawberry.field(metadata=at_most(MAX_STAGES))
    async def archived_stages(self, info: strawberry.Info) -> list[Stage]:
        stages = await info.context.loaders.every_stage_by_pipeline.load(self.id)
        return [st for st in stages if st.archived_at is not None]

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Pipeline)


@strawberry.type
class Account(Node):
    id: strawberry.ID = global_id("Account")
    name: str
    industry: str | None
    region: str | None
    website: str | None

    # A withheld account's stand-in (visibility.HIDDEN_ACCOUNT) has none of these stored.
    @strawberry.field
    def tags(self) -> list[str]:
        return self.tags or []

    @strawberry.field
    def version(self) -> int:
        return self.version or 0

    @strawberry.field
    def created_at(self) -> datetime.datetime | None:
        return self.created_at

    @strawberry.field
    def updated_at(self) -> datetime.datetime | None:
        return self.updated_at

    @strawberry.field
    def owner(self, info: strawberry.Info) -> User | None:
        return ready(info.context.loaders.user, self.owner_id) if self.owner_id else None

    @strawberry.field
    async def opportunities(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated["Opportunity", strawberry.lazy("schema.opportunities")]]:
        return Connection(page=await account_rules.account_opportunities(info.context, self.id, first, after))

    @strawberry.field(metadata=at_most(account_rules.MAX_OPEN_DEAL_OWNERS))
    async def open_deal_owners(self, info: strawberry.Info) -> list[User]:
        return await account_rules.open_deal_owners(info.context, self.id) if self.id else []

    @strawberry.field(metadata=at_most(record_rules.MAX_ACCOUNT_CONTACTS))
    async def contacts(self, info: strawberry.Info) -> list[Annotated["Contact", strawberry.lazy("schema.records")]]:
        from schema.records import account_contacts  # schema.records imports this module

        return await account_contacts(info, self)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Account)


@strawberry.type
class Opportunity(Node):
    id: strawberry.ID = global_id("Opportunity")
    title: str
    currency: str
    priority: Priority
    tags: list[str]
    source: str | None
    last_activity_at: datetime.datetime
    last_contact_at: datetime.datetime | None
    last_contact_kind: Annotated["FollowUpKind", strawberry.lazy("schema.records")] | None
    next_follow_up_at: datetime.datetime | None
    stage_entered_at: datetime.datetime
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int

    # Fields an access rule may withhold resolve to null for that viewer (resolvers/visibility.py).
    @strawberry.field
    def amount(self, info: strawberry.Info) -> Decimal | None:
        return None if "amount" in info.context.access.hidden else self.amount

    @strawberry.field
    def probability(self, info: strawberry.Info) -> int | None:
        return None if "probability" in info.context.access.hidden else self.probability

    @strawberry.field
    def expected_close_date(self, info: strawberry.Info) -> datetime.date | None:
        return None if "expectedCloseDate" in info.context.access.hidden else self.expected_close_date

    @strawberry.field
    def next_step(self, info: strawberry.Info) -> str | None:
        return None if "nextStep" in info.context.access.hidden else self.next_step

    @strawberry.field
    def lost_reason(self, info: strawberry.Info) -> str | None:
        return None if "lostReason" in info.context.access.hidden else self.lost_reason

    @strawberry.field(description="Fields withheld from the viewer (they resolve to null; a withheld account to an empty stand-in)")
    def hidden_fields(self, info: strawberry.Info) -> list[str]:
        return info.context.access.hidden_list

    @strawberry.field
    def account(self, info: strawberry.Info) -> Account:
        if "account" in info.context.access.hidden:
            return HIDDEN_ACCOUNT
        return ready(info.context.loaders.account, self.account_id)

    @strawberry.field
    def pipeline(self, info: strawberry.Info) -> Pipeline:
        return ready(info.context.loaders.pipeline, self.pipeline_id)

    @strawberry.field
    def stage(self, info: strawberry.Info) -> Stage:
        return ready(info.context.loaders.stage, self.stage_id)

    @strawberry.field
    def owner(self, info: strawberry.Info) -> User:
        return ready(info.context.loaders.user, self.owner_id)

    @strawberry.field(description="The department that holds the baton now")
    def department(self, info: strawberry.Info) -> Department:
        return ready(info.context.loaders.department, self.department_id)

    @strawberry.field
    def in_pool(self) -> bool:
        return self.pooled_at is not None

    @strawberry.field
    def pool_department(self, info: strawberry.Info) -> Department | None:
        return ready(info.context.loaders.department, self.pool_department_id) if self.pool_department_id else None

    @strawberry.field
    async def tasks(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated["Task", strawberry.lazy("schema.tasks")]]:
        return Connection(page=await task_rules.opportunity_tasks(info.context, self.id, first, after))

    @strawberry.field
    async def comments(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated["Comment", strawberry.lazy("schema.comments")]]:
        return Connection(page=await comment_rules.opportunity_comments(info.context, self.id, first, after))

    @strawberry.field(metadata=at_most(MAX_CARD_HANDOFFS))
    def handoffs(self, info: strawberry.Info) -> list[Annotated["Handoff", strawberry.lazy("schema.handoffs")]]:
        return ready(info.context.loaders.handoffs_by_opportunity, self.id)

    @strawberry.field(metadata=at_most(MAX_CARD_APPROVALS))
    def approvals(self, info: strawberry.Info) -> list[Annotated["Approval", strawberry.lazy("schema.approvals")]]:
        return ready(info.context.loaders.approvals_by_opportunity, self.id)

    @strawberry.field(description=(
        "Approval kinds the gates the card has passed require but that no longer hold "
        "(superseded by an edit, or never granted): the board shows 're-approval needed'"
    ))
    async def approvals_needed(self, info: strawberry.Info) -> list[str]:
        loaders = info.context.loaders
        stages = await loaders.stages_by_pipeline.load(self.pipeline_id)
        current = next((st for st in stages if st.id == self.stage_id), None)
        if current is None or current.kind == "LOST":
            return []
        required = dict.fromkeys(k for st in stages if st.position <= current.position and st.kind != "LOST" for k in st.required_approvals or [])
        if not required:
            return []
        approvals = await loaders.approvals_by_opportunity.load(self.id)
        valid = {a.kind for a in approvals if still_valid(a, self)}
        return [k for k in required if k not in valid]

    @strawberry.field(metadata=at_most(MAX_DELIVERABLES), description="The current stage's deliverables and whether each is ticked")
    async def checklist(self, info: strawberry.Info) -> list[Annotated["DeliverableState", strawberry.lazy("schema.stage_work")]]:
        from schema.stage_work import checklist

        return await checklist(info, self)

    @strawberry.field(metadata=at_most(MAX_STAGES), description="Time in each stage so far, and which department held the card for how long")
    async def stage_times(self, info: strawberry.Info) -> list[Annotated["StageTime", strawberry.lazy("schema.stage_work")]]:
        from schema.stage_work import stage_times

        return await stage_times(info, self)

    @strawberry.field(description="The viewer may move the card: its owner, the owner's manager or an admin (same rule as moveOpportunity)")
    async def viewer_can_move(self, info: strawberry.Info) -> bool:
        viewer = info.context.viewer
        return writes(viewer) and can_move(viewer, self, await info.context.loaders.user.load(self.owner_id))

    @strawberry.field(description="The viewer may edit the card: also the department holding it (same rule as updateOpportunity)")
    async def viewer_can_update(self, info: strawberry.Info) -> bool:
        viewer = info.context.viewer
        return writes(viewer) and can_edit(viewer, self, await info.context.loaders.user.load(self.owner_id))

    @strawberry.field(description="The card's timeline from the event log, newest first")
    async def history(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Annotated["EventConnection", strawberry.lazy("schema.events")]:
        from schema.events import EventConnection  # schema.events imports this module

        return EventConnection(page=await event_rules.opportunity_history(info.context, self.id, first, after))

    @strawberry.field
    async def ownership_conflict(self, info: strawberry.Info) -> Annotated["OwnershipConflict", strawberry.lazy("schema.accounts")] | None:
        from schema.accounts import ownership_conflict  # schema.accounts imports this module

        return await ownership_conflict(info, self)

    @strawberry.field(metadata=at_most(record_rules.MAX_CARD_CONTACTS))
    async def contacts(self, info: strawberry.Info) -> list[Annotated["OpportunityContact", strawberry.lazy("schema.records")]]:
        from schema.records import card_contacts  # schema.records imports this module

        return await card_contacts(info, self)

    @strawberry.field(metadata=at_most(attachment_rules.MAX_CARD_ATTACHMENTS))
    async def attachments(self, info: strawberry.Info) -> list[Annotated["Attachment", strawberry.lazy("schema.attachments")]]:
        from schema.attachments import card_attachments  # schema.attachments imports this module lazily

        return await card_attachments(info, self)

    @strawberry.field
    async def follow_ups(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated["FollowUp", strawberry.lazy("schema.records")]]:
        return Connection(page=await record_rules.opportunity_follow_ups(info.context, self.id, first, after))

    @strawberry.field
    def customer_silent(self, info: strawberry.Info) -> bool:
        stage = ready(info.context.loaders.stage, self.stage_id)
        if isinstance(stage, m.Stage):  # the board primed it
            return customer_silent(self, stage, info.context.clock())

        async def later():
            return customer_silent(self, await stage, info.context.clock())

        return later()

    @strawberry.field(description=(
        "Why the card is stuck, in the reader's language: its longest current wait (a pending handoff or approval "
        "step, customer silence, an overdue task) and how long, e.g. \"Waiting for Legal's approval · 31 h · urged once\"; "
        "null when nothing waits or the card is won or lost"))
    def stuck_reason(self, info: strawberry.Info) -> str | None:
        return _stuck(info, self, lambda wait: wait.message.render(info.context.locale))

    @strawberry.field(description="When the wait stuckReason tells began (null with it)")
    def stuck_since(self, info: strawberry.Info) -> datetime.datetime | None:
        return _stuck(info, self, lambda wait: wait.since)

    @strawberry.field(description=(
        "The owner's forecast call (setForecastCategory): PIPELINE unless set; CLOSED for a won card"))
    def forecast_category(self, info: strawberry.Info) -> Annotated["ForecastCategory", strawberry.lazy("schema.planning")]:
        from schema.planning import ForecastCategory  # schema.planning imports this module

        stage = ready(info.context.loaders.stage, self.stage_id)
        if isinstance(stage, m.Stage):
            return ForecastCategory(forecast_rules.category_of(self, stage))

        async def later():
            return ForecastCategory(forecast_rules.category_of(self, await stage))

        return later()

    @strawberry.field(description="Tasks not yet done or cancelled")
    def open_task_count(self, info: strawberry.Info) -> int:
        return _nth(ready(board_rules.open_task_stats(info.context), self.id), 0)

    @strawberry.field(description="Open tasks past their due time")
    def overdue_task_count(self, info: strawberry.Info) -> int:
        return _nth(ready(board_rules.open_task_stats(info.context), self.id), 1)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Opportunity)


@strawberry.type
class BoardColumn:
    stage: Stage
    total_count: int
    total_amount: Decimal = strawberry.field(description=(
        "The amounts the viewer may see in the base currency (baseTotal.amount when every currency has a rate; "
        "otherwise the part that converts, with baseTotal.missingRates naming the rest)"))
    hidden_amount_count: int = strawberry.field(description="Cards whose amount is withheld from the viewer (not in totalAmount)")
    totals: list[Money] = strawberry.field(
        metadata=at_most(MAX_CURRENCIES), description="The visible amounts summed per currency (base currency first, then by code)")
    base_total: ConvertedTotal = strawberry.field(description="The visible amounts converted into the base currency")

    @strawberry.field(description=(
        "Stable id of this column under this filter: the same stage and an equivalent filter (list order, "
        "empty and false criteria do not count) give the same id, another filter another id, so caches "
        "keep one board per filter"
    ))
    def id(self) -> strawberry.ID:
        return strawberry.ID(column_id(self.stage.id, self.filter_key))

    @strawberry.field
    async def opportunities(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Opportunity]:
        return Connection(page=await board_rules.column_cards(info.context, self, first, after))


def column_id(stage_id: int, filter_key: str) -> str:
    """Global id form `BoardColumn:<stage id>:<digest of the normalized filter>`."""
    normalized = {}
    for name, value in sorted(json.loads(filter_key or "{}").items()):
        if isinstance(value, list):
            value = sorted({str(v) for v in value})
        elif isinstance(value, str):
            value = value.strip()
        if value not in (None, "", [], False):
            normalized[name] = value
    digest = hashlib.sha256(json.dumps(normalized, sort_keys=True).encode()).hexdigest()[:16]
    return to_global("BoardColumn", f"{stage_id}:{digest}")


@strawberry.type
class Board:
    pipeline: Pipeline
    all_columns: strawberry.Private[list[BoardColumn]]

    @strawberry.field(metadata=at_most(MAX_STAGES))
    def columns(
        self,
        stage_keys: Annotated[list[str] | None, strawberry.argument(description=(
            "Only these stages' columns (same ids as the whole board's): refetch the columns a live event "
            "names without reading the others"))] = None,
    ) -> list[BoardColumn]:
        if stage_keys is None:
            return self.all_columns
        return [column for column in self.all_columns if column.stage.key in stage_keys]


@strawberry.input
class OpportunityFilter:
    ids: list[strawberry.ID] | None = strawberry.UNSET
    owner_ids: list[strawberry.ID] | None = strawberry.UNSET
    department_keys: list[str] | None = strawberry.UNSET
    stage_keys: list[str] | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    priority: list[Priority] | None = strawberry.UNSET
    search: str | None = strawberry.UNSET
    sources: list[str] | None = strawberry.UNSET
    stale_only: bool | None = strawberry.UNSET
    silent_only: bool | None = strawberry.UNSET
    stuck_for_hours: int | None = strawberry.field(default=strawberry.UNSET, description=(
        "Only open cards one of whose current waits (those Opportunity.stuckReason tells: a pending handoff or "
        "approval step, customer silence past the stage's silenceAfterHours, an overdue task) began more than this many hours ago"))


@strawberry.input
class CreateOpportunityInput:
    title: str
    account_name: str
    amount: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    probability: int | None = strawberry.UNSET
    expected_close_date: datetime.date | None = strawberry.UNSET
    priority: Priority | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    pipeline_id: strawberry.ID | None = strawberry.UNSET
    stage_key: str | None = strawberry.UNSET
    client_mutation_id: str | None = strawberry.UNSET
    source: str | None = strawberry.UNSET


@strawberry.input
class UpdateOpportunityInput:
    id: strawberry.ID
    version: int
    title: str | None = strawberry.UNSET
    amount: Decimal | None = strawberry.UNSET
    probability: int | None = strawberry.UNSET
    expected_close_date: datetime.date | None = strawberry.UNSET
    priority: Priority | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    currency: str | None = strawberry.field(default=strawberry.UNSET, description="ISO code, e.g. CNY; locked while an approval is pending")
    source: str | None = strawberry.UNSET


@strawberry.input
class MoveOpportunityInput:
    id: strawberry.ID
    version: int
    stage_key: str
    lost_reason: str | None = strawberry.UNSET


@strawberry.type
class OpportunityPayload:
    opportunity: Opportunity | None
    user_errors: list[UserError]
    current: Opportunity | None = strawberry.field(default=None, description=(
        "When the change was refused (CONFLICT, STAGE_GATE, ...): the card as it is now, with its version "
        "and any approval the refusal opened, so a client can update its cache without another query"))
    previous_stage_id: strawberry.Private[int | None] = None

    @strawberry.field(description="After a move: the stage the card left (its column lost a card)")
    def previous_stage(self, info: strawberry.Info) -> Stage | None:
        stage_id = getattr(self, "previous_stage_id", None)  # absent on a refused input's stand-in payload
        return ready(info.context.loaders.stage, stage_id) if stage_id else None

    @strawberry.field(metadata=at_most(2), description=(
        "After a move: the column the card left and the one it entered, in pipeline order, under `filter`; "
        "pass the board's filter and they carry the board's column ids, so a normalized cache updates both "
        "columns' counts, totals and cards from this answer. Empty when nothing moved"))
    async def columns(
        self, info: strawberry.Info,
        filter: Annotated[OpportunityFilter | None, strawberry.argument(
            description="The board's filter (the columns' ids depend on it)")] = None,
    ) -> list[BoardColumn]:
        stage_id = getattr(self, "previous_stage_id", None)
        if not stage_id or self.opportunity is None:
            return []
        _, columns = await board_rules.board(
            info.context, to_global("Pipeline", self.opportunity.pipeline_id), to_data(filter))
        return [column for column in columns if column.stage.id in (stage_id, self.opportunity.stage_id)]


def payload(result) -> OpportunityPayload:
    opportunity, errors = result
    return OpportunityPayload(opportunity=opportunity, user_errors=errors,
                              previous_stage_id=getattr(opportunity, "moved_from_stage_id", None))


async def refused_payload(info, gid: str, result) -> OpportunityPayload:
    """A change to an existing card: when refused, the card as it is now comes along."""
    answer = payload(result)
    if answer.user_errors and not any(e.code == "NOT_FOUND" for e in answer.user_errors):
        answer.current = await rules.current_card(info.context, gid)
    return answer


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_PIPELINES))
    async def pipelines(self, info: strawberry.Info) -> list[Pipeline]:
        ctx = info.context
        return await ctx.loaders.all(
            select(m.Pipeline).where(m.Pipeline.org_id == ctx.viewer.org_id)
            .order_by(m.Pipeline.position, m.Pipeline.id).limit(MAX_PIPELINES)
        )

    @strawberry.field(**SIGNED_IN)
    async def board(
        self, info: strawberry.Info, pipeline_id: strawberry.ID | None = None, filter: OpportunityFilter | None = None
    ) -> Board:
        pipeline, columns = await board_rules.board(info.context, pipeline_id, to_data(filter))
        return Board(pipeline=pipeline, all_columns=columns[:MAX_STAGES])

    @strawberry.field(**SIGNED_IN)
    async def opportunities(
        self, info: strawberry.Info, filter: OpportunityFilter | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[Opportunity]:
        return Connection(page=await rules.list_opportunities(info.context, to_data(filter), first, after))


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def create_opportunity(self, info: strawberry.Info, input: CreateOpportunityInput) -> OpportunityPayload:
        return payload(await rules.create_opportunity(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN)
    async def update_opportunity(self, info: strawberry.Info, input: UpdateOpportunityInput) -> OpportunityPayload:
        return await refused_payload(info, input.id, await rules.update_opportunity(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN)
    async def move_opportunity(self, info: strawberry.Info, input: MoveOpportunityInput) -> OpportunityPayload:
        return await refused_payload(info, input.id, await rules.move_opportunity(info.context, to_data(input)))
