"""Batched loads for one request (or one live event): every per-parent field goes
through here, so a query costs the same number of SQL statements for 10 cards as
for 200. Each batch opens its own short session, so loaders may run concurrently."""
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import Select, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from strawberry.dataloader import DataLoader

from db import models as m
from db.engine import Database

# Lists without pages return at most this many items: their resolvers stop there
# (keeping the newest where it matters), and the query cost multiplies by them
# (schema/limits.py). docs/security.md lists them.
MAX_DEPARTMENTS = 10  # an organization's departments (setup creates 5); an approval has a step per department
MAX_USERS = 1000  # the `users` list (by name)
MAX_PIPELINES = 10
MAX_STAGES = 20  # per pipeline (createStage refuses more): its stages, the board's columns, the funnel
MAX_CARD_HANDOFFS = 20  # per opportunity, the newest
MAX_CARD_APPROVALS = 10  # per opportunity, the newest
MAX_MENTIONS = 20  # users per comment
MAX_APPROVAL_STEPS = 10  # an approval's steps, added signers included
MAX_STEP_APPROVERS = 100  # a step's approvers (a department's members, transfers and added signers)
MAX_APPROVAL_ACTIONS = 200  # an approval's record of decisions, returns, transfers, urges (the newest)
MAX_FIELD_CHANGES = 20  # an event's typed changes (a card has fewer editable fields)
MAX_APPROVALS = 500  # the `approvals` query, newest first
MAX_API_TOKENS = 200
MAX_WEBHOOKS = 50
MAX_IMPORT_REJECTIONS = 1000  # rejected rows reported by importOpportunities (all are counted)


_MISSING = object()


class Loader(DataLoader):
    """Strawberry's DataLoader with primed values kept as they are: `ready` returns them
    with no future at all, and `load` makes a future for one only when asked (a board
    primes ~900 rows and reads each several times; a future per row was ~10% of its CPU)."""

    def __init__(self, load_fn):
        super().__init__(load_fn=load_fn)
        self.values: dict = {}

    def load(self, key):
        value = self.values.get(key, _MISSING)
        if value is _MISSING:
            return super().load(key)
        future = self.loop.create_future()
        future.set_result(value)
        return future

    def prime_many(self, data, force: bool = False) -> None:
        for key, value in data.items():
            if force or (key not in self.values and not self.cache_map.get(key)):
                self.values[key] = value

    def clear(self, key) -> None:
        self.values.pop(key, None)
        if self.cache_map.get(key) is not None:
            super().clear(key)

    def clear_many(self, keys) -> None:
        for key in keys:
            self.clear(key)

    def clear_all(self) -> None:
        self.values.clear()
        super().clear_all()


def ready(loader: Loader, key):
    """The loaded value when it is already cached (returned as is: no task, no
    await), else the loader's awaitable. Field resolvers return this, so rows
    prefetched for the board resolve synchronously."""
    value = loader.values.get(key, _MISSING)
    if value is not _MISSING:
        return value
    future = loader.cache_map.get(key)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return loader.load(key)


def any_of(column, sqlite: bool, *, name: str | None = None, value: Sequence | None = None):
    """`column IN (...)` on SQLite; on PostgreSQL `column = ANY(:array)`: one array
    parameter however many keys, where an IN list is rendered and bound key by key on
    every execution (~0.7 ms of CPU for a board's 175 cards). A named parameter
    (`name`) lets a statement built once take its keys at execution."""
    if sqlite:
        return column.in_(bindparam(name, value, expanding=True))
    return column == any_(bindparam(name, value, type_=ARRAY(column.type)))


def _at_most(rows: list, most: int, newest: bool = False) -> list:
    return rows[-most:] if newest else rows[:most]


class Loaders:
    def __init__(self, db: Database, org_id: int, visible_cards=None):
        self.db = db
        self.org_id = org_id
        # A condition on `opportunities` rows: cards (and their tasks, comments, handoffs,
        # approvals) outside it load as None. None: every card of the organization.
        self.visible_cards = visible_cards
        self._custom: dict[str, DataLoader] = {}

    def _on_visible_card(self, column):
        if self.visible_cards is None:
            return None
        return column.in_(select(m.Opportunity.id).where(m.Opportunity.org_id == self.org_id, self.visible_cards))

    async def all(self, stmt: Select) -> list[Any]:
        async with self.db.read_one() as session:
            return list((await session.execute(stmt)).scalars())

    async def rows(self, stmt: Select, params: dict | None = None) -> list[Any]:
        async with self.db.read_one() as session:
            return list(await session.execute(stmt, params))

    def release(self) -> None:
        """Forget every load; the loaders start again empty if used.

        The batch functions close over this object (custom ones over the request's
        context), so a request's loaders, and every row they hold, sit in reference
        cycles that only the cyclic garbage collector frees: ~6,000 objects per board,
        kept alive (and walked by every collection) until a full collection. Released
        when the request is answered, they are freed by reference counting at once."""
        for name in [name for name, value in vars(self).items() if isinstance(value, DataLoader)]:
            del self.__dict__[name]
        self._custom = {}

    def among(self, column, keys: Sequence):
        """`column` is one of `keys` (see any_of)."""
        return any_of(column, self.db.is_sqlite, value=list(keys))

    def custom(self, name: str, batch: Callable[[Sequence[Hashable]], Awaitable[list]]) -> DataLoader:
        """A loader defined elsewhere (e.g. a resolver's paged list), cached per request."""
        loader = self._custom.get(name)
        if loader is None:
            loader = self._custom[name] = Loader(batch)
        return loader

    def _by_id(self, model, org_clause=None, visible=None) -> DataLoader:
        async def load(ids):
            stmt = select(model).where(self.among(model.id, ids))
            stmt = stmt.where(org_clause if org_clause is not None else model.org_id == self.org_id)
            if visible is not None:
                stmt = stmt.where(visible)
            found = {row.id: row for row in await self.all(stmt)}
            return [found.get(i) for i in ids]

        return Loader(load)

    def _grouped(self, model, column, order_by, most: int, *, newest: bool = False, where=None) -> DataLoader:
        """Rows per parent in `order_by` order, at most `most` of them (the last ones if `newest`)."""

        async def load(keys):
            stmt = select(model).where(self.among(column, keys)).order_by(order_by)
            if where is not None:
                stmt = stmt.where(where)
            groups = defaultdict(list)
            for row in await self.all(stmt):
                groups[getattr(row, column.key)].append(row)
            return [_at_most(groups.get(k, []), most, newest) for k in keys]

        return Loader(load)

    @cached_property
    def user(self) -> DataLoader:
        return self._by_id(m.User)

    @cached_property
    def department(self) -> DataLoader:
        return self._by_id(m.Department)

    @cached_property
    def account(self) -> DataLoader:
        return self._by_id(m.Account)

    @cached_property
    def pipeline(self) -> DataLoader:
        return self._by_id(m.Pipeline)

    @cached_property
    def stage(self) -> DataLoader:
        in_org = m.Stage.pipeline_id.in_(select(m.Pipeline.id).where(m.Pipeline.org_id == self.org_id))
        return self._by_id(m.Stage, in_org)

    @cached_property
    def opportunity(self) -> DataLoader:
        return self._by_id(m.Opportunity, visible=self.visible_cards)

    @cached_property
    def task(self) -> DataLoader:
        return self._by_id(m.Task, visible=self._on_visible_card(m.Task.opportunity_id))

    @cached_property
    def comment(self) -> DataLoader:
        return self._by_id(m.Comment, visible=self._on_visible_card(m.Comment.opportunity_id))

    @cached_property
    def handoff(self) -> DataLoader:
        return self._by_id(m.Handoff, visible=self._on_visible_card(m.Handoff.opportunity_id))

    @cached_property
    def approval(self) -> DataLoader:
        return self._by_id(m.Approval, visible=self._on_visible_card(m.Approval.opportunity_id))

    @cached_property
    def stages_by_pipeline(self) -> DataLoader:
        """A pipeline's stages on the board: archived ones have left it."""
        return self._grouped(m.Stage, m.Stage.pipeline_id, m.Stage.position, MAX_STAGES, where=m.Stage.archived_at.is_(None))

    @cached_property
    def every_stage_by_pipeline(self) -> DataLoader:
        """A pipeline's stages, archived ones included (a move's stages in the history, the settings)."""
        return self._grouped(m.Stage, m.Stage.pipeline_id, m.Stage.position, MAX_STAGES)

    @cached_property
    def steps_by_approval(self) -> DataLoader:
        return self._grouped(m.ApprovalStep, m.ApprovalStep.approval_id, m.ApprovalStep.position, MAX_APPROVAL_STEPS)

    @cached_property
    def department_by_key(self) -> DataLoader:
        async def load(keys):
            rows = await self.all(select(m.Department).where(m.Department.org_id == self.org_id, self.among(m.Department.key, keys)))
            by_key = {d.key: d for d in rows}
            return [by_key.get(k) for k in keys]

        return Loader(load)

    @cached_property
    def checks_by_opportunity(self) -> DataLoader:
        """Ticked deliverables of each card (a stage has at most 10; a pipeline 20 stages)."""
        return self._grouped(m.DeliverableCheck, m.DeliverableCheck.opportunity_id, m.DeliverableCheck.id, MAX_STAGES * 10)

    @cached_property
    def approvers_by_step(self) -> DataLoader:
        return self._grouped(m.ApprovalApprover, m.ApprovalApprover.step_id, m.ApprovalApprover.id, MAX_STEP_APPROVERS)

    @cached_property
    def actions_by_approval(self) -> DataLoader:
        return self._grouped(m.ApprovalAction, m.ApprovalAction.approval_id, m.ApprovalAction.id, MAX_APPROVAL_ACTIONS, newest=True)

    @cached_property
    def handoffs_by_opportunity(self) -> DataLoader:
        return self._grouped(m.Handoff, m.Handoff.opportunity_id, m.Handoff.id, MAX_CARD_HANDOFFS, newest=True)

    @cached_property
    def approvals_by_opportunity(self) -> DataLoader:
        """Approvals with their steps in one statement (steps are primed)."""

        async def load(keys):
            stmt = (
                select(m.Approval, m.ApprovalStep)
                .outerjoin(m.ApprovalStep, m.ApprovalStep.approval_id == m.Approval.id)
                .where(self.among(m.Approval.opportunity_id, keys))
                .order_by(m.Approval.id, m.ApprovalStep.position)
            )
            approvals, steps = defaultdict(dict), defaultdict(list)
            for approval, step in await self.rows(stmt):
                approvals[approval.opportunity_id][approval.id] = approval
                if step is not None:
                    steps[approval.id].append(step)
            for by_id in approvals.values():
                for approval_id in by_id:
                    self.steps_by_approval.prime(approval_id, steps[approval_id][:MAX_APPROVAL_STEPS])
            return [_at_most(list(approvals[k].values()), MAX_CARD_APPROVALS, newest=True) for k in keys]

        return Loader(load)

    def prime(self, loader_name: str, rows) -> None:
        loader = getattr(self, loader_name)
        for row in rows:
            loader.prime(row.id, row)
