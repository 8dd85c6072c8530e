"""Live subscriptions: `boardEvents` and `notificationAdded`.

The event log is the source of truth; broadcast messages only say "the log moved".
A subscriber listens first, then reads the log after its starting point, then takes
the pages the Hub reads once per organization and process (api/live/hub.py, through
the contract in resolvers/feeds.py), always from the last seq it has passed,
reading any gap before a page itself. Reading ranges (seq > last) instead of the
announced seqs is what makes the replay->live seam safe: a seq is never yielded
twice, and one announced late, out of order or never (a failed publish, a dropped
connection) is read anyway."""
import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select

from db import models as m
from db.engine import Database
from db.retention import log_bounds
from resolvers.context import Ctx
from resolvers.errors import UserErrors
from resolvers.events import CONFIGURATION_CHANGED, sees_configuration
from resolvers.feeds import Batch, Page
from resolvers.ids import decode
from resolvers.paging import BadInput, ResyncRequired
from resolvers.visibility import conditions, customer_event_withheld, ensure_access, load_access, on_visible_card, redact_event, visible_among

# After this event a subscriber applies its viewer's new access rule (resolvers/access_rules.py).
ACCESS_CHANGED = "ACCESS_RULES_UPDATED"

PAGE = 2000  # events read from the log per query


async def log_head(db: Database, org_id: int) -> int:
    """The organization's newest event seq (0 before any event)."""
    async with db.read() as session:
        return await session.scalar(select(m.Organization.event_seq).where(m.Organization.id == org_id)) or 0


async def log_heads(db: Database, org_ids: list[int]) -> dict[int, int]:
    """Several organizations' newest seqs in one statement (the hub's periodic check)."""
    async with db.read() as session:
        rows = await session.execute(select(m.Organization.id, m.Organization.event_seq).where(m.Organization.id.in_(org_ids)))
        return {org_id: seq or 0 for org_id, seq in rows}


@dataclass(frozen=True)
class EventFilter:
    types: frozenset[str] | None = None
    department_keys: frozenset[str] | None = None  # any of these
    scope_key: str | None = None  # a department-scoped viewer: this one, always
    opportunity_id: int | None = None
    # What the viewer may see (visibility.Access.key): subscribers are grouped by it, and
    # a restricted one judges each page's cards itself (never written to straight).
    access_key: tuple = ()
    restricted: bool = False
    # Admins (not through a department-scoped token) also receive CONFIGURATION_CHANGED.
    configuration: bool = False

    def matches(self, event: m.Event) -> bool:
        if event.type == CONFIGURATION_CHANGED and not self.configuration:
            return False
        if customer_event_withheld(self.restricted, event):
            return False
        keys = set(event.department_keys or ())
        if self.scope_key is not None and self.scope_key not in keys:
            return False
        if self.types is not None and event.type not in self.types:
            return False
        if self.department_keys is not None and not keys & self.department_keys:
            return False
        return self.opportunity_id is None or event.opportunity_id == self.opportunity_id


async def _scope_key(ctx: Ctx) -> str | None:
    viewer = ctx.require_viewer()
    if viewer.department_id is None:
        return None
    async with ctx.db.read() as session:
        return await session.scalar(select(m.Department.key).where(m.Department.id == viewer.department_id))


async def event_filter(ctx: Ctx, department_keys, types, opportunity_id) -> EventFilter:
    try:
        opp_id = decode(opportunity_id, "Opportunity", "opportunityId") if opportunity_id is not None else None
    except UserErrors as exc:
        raise BadInput(exc.errors[0].render(ctx.locale)) from None
    access = await ensure_access(ctx)
    return EventFilter(
        types=frozenset(str(getattr(t, "value", t)) for t in types) if types is not None else None,
        department_keys=frozenset(department_keys) if department_keys is not None else None,
        scope_key=await _scope_key(ctx),
        opportunity_id=opp_id,
        access_key=access.key,
        restricted=access.restricted,
        configuration=sees_configuration(ctx.viewer),
    )


async def _reload_access(ctx: Ctx, flt: EventFilter) -> EventFilter:
    """The viewer's current access rule (an admin changed the rules) and the filter for it."""
    viewer = ctx.require_viewer()
    async with ctx.db.read() as session:
        viewer.access = await load_access(session, viewer.user)
    ctx.fresh_loaders()  # nothing loaded under the old rule is used again
    return dataclasses.replace(flt, access_key=viewer.access.key, restricted=viewer.access.restricted)


async def _visible_cards(ctx: Ctx, rows, page: Page | None = None) -> set[int] | None:
    """Which cards of these events the viewer sees (None: all). For a shared page, one
    statement per page and access key, shared by its subscribers."""
    access = ctx.access
    if access.every_card:
        return None
    ids = {row.opportunity_id for row in rows}
    if page is None:
        async with ctx.db.read() as session:
            return await visible_among(session, access, ctx.require_viewer().org_id, ids)
    key = ("visible", access.key)
    pending = page.shared.get(key)
    if pending is None:

        async def judge():
            async with ctx.db.read() as session:
                return await visible_among(session, access, ctx.require_viewer().org_id, ids)

        pending = page.shared[key] = asyncio.ensure_future(judge())
    return await asyncio.shield(pending)


async def _judge(ctx: Ctx, flt: EventFilter, rows, page: Page | None = None):
    """(the filter, after any access change among `rows`; a predicate: the event's card is
    visible). Events without a card are for everyone."""
    if any(row.type == ACCESS_CHANGED for row in rows):
        flt = await _reload_access(ctx, flt)
    visible = await _visible_cards(ctx, rows, page)
    if visible is None:
        return flt, None
    return flt, lambda event: event.opportunity_id is None or event.opportunity_id in visible


def _shown(ctx: Ctx, event, shared: dict | None = None):
    """The event as the viewer may see it (withheld fields blanked); a blanked copy of a
    shared row stays shared (executions are keyed by what the viewer sees)."""
    view = redact_event(ctx.access, event)
    if view is not event and shared is not None:
        setattr(view, SHARED, shared)
    return view



def _require_live(ctx: Ctx) -> None:
    if ctx.subscribe is None:
        raise RuntimeError("live subscriptions need a hub (ctx.subscribe)")


async def _target(ctx: Ctx, org_id: int, batch: Batch) -> int:
    """How far the log is known to reach after a batch of pages."""
    upto = max(page.upto for page in batch.pages)
    if batch.catch_up and all(page.rows is None for page in batch.pages):
        upto = max(upto, await log_head(ctx.db, org_id))  # the Hub could not tell
    return upto


async def _still_kept(db: Database, org_id: int, after: int) -> None:
    """RESYNC_REQUIRED when retention removed events after `after` (db/retention.py). The log
    is gapless per organization, so a replay asks only when its rows skip a seq."""
    floor, _ = await log_bounds(db, org_id)
    if after < floor:
        raise ResyncRequired(after, floor + 1)


async def events_between(db: Database, org_id: int, after: int, upto: int) -> list[m.Event]:
    """Every event with after < seq <= upto, oldest first (the Hub's one shared read)."""
    rows: list[m.Event] = []
    async for page in _events_after(db, org_id, after, upto, orm=True):
        rows.extend(page)
    return rows


# A subscriber's own reads (replay, gaps) are only read: plain rows with the Event
# columns as attributes, without building an ORM object per event (most of the cost
# of reading a page of the log). The Hub's shared pages stay ORM rows (marked, see _share).
_EVENT_COLUMNS = tuple(m.Event.__table__.columns)


async def _events_after(
    db: Database, org_id: int, last: int, upto: int | None, *, orm: bool = False, turn=None
) -> AsyncIterator[list]:
    """Pages of the log with last < seq <= upto (to the end when upto is None), oldest
    first: ORM Events with orm=True, else rows with the same attributes. With `turn`
    (Ctx.replay_turn), each page is read and handled within `async with turn()`."""
    while upto is None or last < upto:
        stmt = select(m.Event) if orm else select(*_EVENT_COLUMNS)
        stmt = stmt.where(m.Event.org_id == org_id, m.Event.seq > last)
        if upto is not None:
            stmt = stmt.where(m.Event.seq <= upto)
        async with turn() if turn is not None else contextlib.nullcontext():
            async with db.read() as session:
                result = await session.execute(stmt.order_by(m.Event.seq).limit(PAGE))
                rows = list(result.scalars() if orm else result)
            if not rows:
                return
            yield rows  # the consumer asks for the next page once it has handled this one
        last = rows[-1].seq
        if len(rows) < PAGE:
            return


def _own_pages(ctx: Ctx, org_id: int, last: int, upto: int | None):
    """`async with` this: the pages a subscriber reads from the log itself, paced by its
    socket (Ctx.replay_turn) and let go of as soon as the block ends."""
    return contextlib.aclosing(_events_after(ctx.db, org_id, last, upto, turn=ctx.replay_turn))


# Attribute set on the Event rows of a page the Hub read once for everybody: the
# page's `shared` dict. The websocket layer (api/live/execution.py: SharedEventExecutor)
# uses it to execute each distinct subscription once per event and serialize once.
SHARED = "_baton_shared"


class ReplayBatch(list):
    """Events a subscriber read from the log itself (replay, gap), yielded as ONE item
    when the transport can take it (ctx.batch_replay, set by api/live/transport.py's
    SharedResultsTransportWS): the executor executes each event and the transport
    sends each result as its own `next` message, in order."""

    __slots__ = ()


def _own_reads(ctx: Ctx, rows: list[m.Event], matches, visible=None):
    """What to yield for rows read by this subscriber: one batch, or the events."""
    picked = [_shown(ctx, event) for event in rows if matches(event) and (visible is None or visible(event))]
    if getattr(ctx, "batch_replay", False):
        return (ReplayBatch(picked),) if picked else ()
    return picked


def _share(page: Page) -> list[m.Event]:
    """The page's rows, marked as shared; loaders for them are shared too."""
    if not page.shared.get("marked"):
        for row in page.rows:
            setattr(row, SHARED, page.shared)
        page.shared["marked"] = True
    return page.rows


def shared_rows(ctx: Ctx, page: Page) -> list[m.Event]:
    """A page's rows, marked as shared, with `ctx` loading nested fields through the
    page's loaders (also used by api/live/tap.py when it writes a page to sockets)."""
    _page_loaders(ctx, page)
    return _share(page)


def _page_loaders(ctx: Ctx, page: Page):
    """One loader cache per page and access key: viewers who may see the same see the
    same data (department scope filters events, not data), so the first subscriber's
    field loads serve the others."""
    key = ("loaders", ctx.access.key)
    loaders = page.shared.get(key)
    if loaders is None:
        loaders = page.shared[key] = ctx.fresh_loaders()
    else:
        ctx.use_loaders(loaders)
    return loaders


async def board_events(
    ctx: Ctx, after: int | None, department_keys: list[str] | None, types: list | None, opportunity_id: str | None
) -> AsyncIterator[m.Event]:
    """Stored events with seq > after (or none, without `after`), then live ones.

    The seam: `last` is the highest seq passed (yielded or filtered out). Own reads
    always start after `last`; a page from the Hub covers exactly (page.after,
    page.upto], so rows <= last are skipped and a gap (last, page.after] is read from
    the log first. Hence no seq twice and none missing, however pages and replay
    interleave."""
    viewer = ctx.require_viewer()
    _require_live(ctx)
    if after is not None and after < 0:
        raise BadInput("after must not be negative")
    flt = await event_filter(ctx, department_keys, types, opportunity_id)
    org_id = viewer.org_id
    # Listen before reading the log: whatever commits from now on is announced.
    async with ctx.subscribe(org_id, ctx.drop_slow_subscriber) as feed:
        last = await log_head(ctx.db, org_id)
        if after is not None:
            # Replay to the end of the log (it may have grown since the head was read).
            expected = after + 1
            async with _own_pages(ctx, org_id, after, None) as pages:
                async for rows in pages:
                    if rows[0].seq != expected:
                        await _still_kept(ctx.db, org_id, expected - 1)
                    expected = rows[-1].seq + 1
                    flt, visible = await _judge(ctx, flt, rows)
                    ctx.fresh_loaders()  # nested fields resolve current data
                    for item in _own_reads(ctx, rows, flt.matches, visible):
                        yield item
                    after = rows[-1].seq
            if after < last:  # the head's events are gone
                await _still_kept(ctx.db, org_id, after)
            last = max(last, after)
        while True:
            # While it waits, the Hub may write pages that start where it is straight to
            # its socket (graphql-transport-ws), moving `feed.last` on without waking it.
            feed.park(last, flt)
            batch = await feed.next()
            last = max(last, feed.last)
            for page in batch.pages:
                upto = page.upto
                if page.catch_up and page.rows is None:
                    upto = max(upto, await log_head(ctx.db, org_id))
                if upto <= last:
                    continue
                if page.rows is None or page.after > last:
                    # Not read for us (or not all of it): read from where we are.
                    stop = upto if page.rows is None else page.after
                    async with _own_pages(ctx, org_id, last, stop) as pages:
                        async for rows in pages:
                            flt, visible = await _judge(ctx, flt, rows)
                            ctx.fresh_loaders()
                            for item in _own_reads(ctx, rows, flt.matches, visible):
                                yield item
                    last = stop
                if page.rows:
                    flt, visible = await _judge(ctx, flt, page.rows, page)
                    matches = flt.matches
                    for event in shared_rows(ctx, page):
                        if event.seq > last and matches(event) and (visible is None or visible(event)):
                            last = event.seq
                            yield _shown(ctx, event, page.shared)
                last = max(last, upto)


async def notification_added(ctx: Ctx) -> AsyncIterator[m.Notification]:
    """The viewer's new inbox entries, as their events commit."""
    viewer = ctx.require_viewer()
    _require_live(ctx)
    org_id = viewer.org_id
    async with ctx.subscribe(org_id, ctx.drop_slow_subscriber) as feed:
        last = await log_head(ctx.db, org_id)
        while True:
            batch = await feed.next()
            upto = await _target(ctx, org_id, batch)
            if upto <= last:
                continue
            # Look when named, told to catch up, or when announcements were skipped
            # (a lost message might have named us).
            if batch.catch_up or viewer.id in batch.users or not batch.seqs >= set(range(last + 1, upto + 1)):
                async with ctx.db.read() as session:
                    # The current rule (it may have changed): nothing about cards the viewer does not see.
                    viewer.access = await load_access(session, viewer.user)
                    visible = on_visible_card(m.Notification.opportunity_id, viewer.access, org_id, nullable=True)
                    rows = (
                        await session.execute(
                            select(m.Notification)
                            .where(
                                m.Notification.user_id == viewer.id,
                                m.Notification.event_seq > last,
                                m.Notification.event_seq <= upto,
                                *conditions(visible),
                            )
                            .order_by(m.Notification.event_seq, m.Notification.id)
                        )
                    ).scalars().all()
                ctx.fresh_loaders()
                for row in rows:
                    yield row
            last = upto
