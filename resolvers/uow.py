"""The unit of work: one transaction that writes a change, appends its event (and
any notifications) and, only after commit, announces it on the broadcast channel."""
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models as m
from db.statements import built_once
from resolvers.context import Ctx
from resolvers.errors import UserError, UserErrors
from resolvers.i18n import DEFAULT, Msg, jsonable, translate
from resolvers.visibility import card_context

log = logging.getLogger("baton.events")
T = TypeVar("T")


@dataclass
class UnitOfWork:
    ctx: Ctx
    session: AsyncSession
    org_id: int
    actor_id: int | None
    events: list[m.Event] = field(default_factory=list)
    notifications: list[tuple[m.Event, m.Notification]] = field(default_factory=list)
    notified: set[int] = field(default_factory=set)
    # Rows read alongside others and wanted again by `session.get` (which finds them only
    # while something holds them: the identity map's references are weak).
    held: list = field(default_factory=list)

    @property
    def now(self):
        return self.ctx.clock()

    async def append_event(
        self,
        type: str,
        *,
        opportunity_id: int | None = None,
        task_id: int | None = None,
        comment_id: int | None = None,
        handoff_id: int | None = None,
        approval_id: int | None = None,
        department_keys: list[str] | tuple[str, ...] = (),
        department_ids: tuple[int | None, ...] = (),  # more departments to name, by id (read with the card)
        changes: dict | None = None,
        actor_id=...,  # default: the unit of work's actor; None for system events
    ) -> m.Event:
        """Queue an event for the log; it gets its seq when the work is done (`write_log`).
        An event about a card names every department involved in it (holder, handoffs,
        approval steps), so each hears what happens to deals it worked on, and carries a
        snapshot of the card (redacted per receiver when read)."""
        snapshot = None
        if opportunity_id is not None:
            card = await self.session.get(m.Opportunity, opportunity_id)  # the work's own copy when it loaded it
            if card is not None:
                # Set before anything is read: the change's own UPDATE (autoflushed) carries it.
                card.last_activity_at = self.now
                involved, snapshot = await card_context(self.session, card, department_ids)
                department_keys = set(department_keys) | involved
        if department_ids and snapshot is None:
            ids = {i for i in department_ids if i is not None}
            named = await self.session.execute(select(m.Department.key).where(m.Department.id.in_(ids)))
            department_keys = set(department_keys) | set(named.scalars())
        event = m.Event(
            org_id=self.org_id,
            type=type,
            occurred_at=self.now,
            actor_id=self.actor_id if actor_id is ... else actor_id,
            opportunity_id=opportunity_id,
            task_id=task_id,
            comment_id=comment_id,
            handoff_id=handoff_id,
            approval_id=approval_id,
            department_keys=sorted(set(department_keys)),
            changes=changes,
            snapshot=snapshot,
        )
        self.events.append(event)
        return event

    def notify(self, user_ids, kind: str, message: str | Msg, *, opportunity_id: int | None, event: m.Event, **params) -> None:
        """Queue an inbox entry per user (never the actor), tied to `event`. `message` is an
        English template filled from `params` (or a Msg): the entry keeps the English text
        and the template, so each reader sees it in their own language."""
        if isinstance(message, Msg):
            message, params = message.template, {**message.params, **params}
        text = translate(DEFAULT, message, **params)
        template, stored = (message, jsonable(params)) if len(message) <= 300 else (None, None)
        for user_id in sorted(set(user_ids)):
            if user_id == self.actor_id:
                continue
            note = m.Notification(
                org_id=self.org_id,
                user_id=user_id,
                kind=kind,
                message=text[:500],
                template=template,
                params=stored,
                opportunity_id=opportunity_id,
                created_at=self.now,
            )
            self.notifications.append((event, note))
            self.notified.add(user_id)

    async def write_log(self) -> None:
        """Number the queued events from the organization's counter and write them with
        their notifications, last in the transaction. The counter row's lock is held
        from here to commit: writers of one organization queue only for these few
        statements (not for the change itself), seqs are gapless and commit in order,
        and the counter is always the last lock taken, so lock order stays the same."""
        if not self.events:
            return
        await self.session.flush()  # the change itself, before the counter's lock
        last = (await self.session.execute(  # every write takes its seqs here: built once (db/statements.py)
            built_once(_take_seqs), {"org_id": self.org_id, "count": len(self.events)})).scalar_one()
        for i, event in enumerate(self.events):
            event.seq = last - len(self.events) + 1 + i
        for event, note in self.notifications:
            note.event_seq = event.seq
        self.session.add_all(self.events)
        self.session.add_all(note for _, note in self.notifications)


def _take_seqs():
    return (
        update(m.Organization)
        .where(m.Organization.id == bindparam("org_id"))
        .values(event_seq=m.Organization.event_seq + bindparam("count", type_=m.Organization.event_seq.type))
        .returning(m.Organization.event_seq)
    )


async def run_in_transaction(
    ctx: Ctx, work: Callable[[UnitOfWork], Awaitable[T]], *, actor_id=..., org_id: int | None = None
) -> T:
    """Run `work` in one transaction, then publish its events. UserErrors roll back."""
    viewer = ctx.viewer
    uow_org = org_id if org_id is not None else ctx.require_viewer().org_id
    actor = (viewer.id if viewer else None) if actor_id is ... else actor_id
    async with ctx.db.write() as session:
        uow = UnitOfWork(ctx, session, uow_org, actor)
        result = await work(uow)
        await uow.write_log()
        await session.flush()
    await publish_events(ctx, uow)
    return result


ANNOUNCEMENT_BYTES = 4000  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more


def announcement(seqs: list[int], users) -> dict:
    """Small messages: seqs and the users notified; subscribers load what they may see.
    One that would not fit (a large import, a mention of a big department) says only
    where the log now ends, and every subscriber checks what it missed."""
    message = {"seq": seqs, "users": sorted(users)}
    if len(json.dumps(message)) > ANNOUNCEMENT_BYTES:
        message = {"seq": [max(seqs)], "catch_up": True, "head": max(seqs)}
    return message


async def publish_events(ctx: Ctx, uow: UnitOfWork) -> None:
    if not uow.events:
        return
    message = announcement([e.seq for e in uow.events], uow.notified)
    try:
        await ctx.publish(uow.org_id, message)
    except Exception:  # noqa: BLE001 - the log holds the event; subscribers catch up
        log.exception("publishing events %s failed; subscribers will catch up from the log", message["seq"])


async def mutate(ctx: Ctx, work: Callable[[UnitOfWork], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    """A mutation's shape: (result, []) after commit, or (None, errors) with nothing written."""
    try:
        return await run_in_transaction(ctx, work), []
    except UserErrors as exc:
        return None, exc.errors
