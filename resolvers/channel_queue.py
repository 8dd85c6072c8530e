"""Channel deliveries: what goes out to which channel, and when.

Deliveries derive from the event log, like webhooks: each organization keeps one
cursor (`channel_cursors`, the last event seq handled), and the notifications of
the events past it become deliveries in the same transaction that advances it, so
a restart or a crash loses nothing. A user's own channels get that user's
notifications, routed by kind (`notification_preferences.routes`) and held back
during quiet hours; a department's channels get the notifications of its people
(one message per event and kind), filtered by the channel's kinds.

Every message is composed for whoever reads the channel: the recipient for a
user's channel, a member of the department for a department's channel. A card
that reader may not see is not mentioned at all, and fields their access rule
withholds are left out (resolvers/visibility.py). Sending happens in api/channels.py."""
from collections import defaultdict
from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update

from db import models as m
from resolvers.channel_formats import message
from resolvers.context import system_ctx
from resolvers.i18n import DEFAULT, supported, translate
from resolvers.ids import to_global
from resolvers.notifications import message_in
from resolvers.uow import run_in_transaction
from resolvers.visibility import Access, access_of, load_access, redact_event, visible_among

ENQUEUE_BATCH = 500
CLAIM_BATCH = 100
LEASE = timedelta(minutes=2)
DEFAULT_TIME_ZONE = "Asia/Shanghai"


# ------------------------------------------------------------------ preferences


def parse_hhmm(value: str | None) -> time | None:
    if not value:
        return None
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def quiet_until(pref: m.NotificationPreference | None, now: datetime) -> datetime | None:
    """The end of the quiet hours `now` falls in (UTC), or None outside them. Hours are
    wall-clock times in the user's zone; a start after the end spans midnight."""
    if pref is None or not pref.quiet_start or not pref.quiet_end or pref.quiet_start == pref.quiet_end:
        return None
    start, end = parse_hhmm(pref.quiet_start), parse_hhmm(pref.quiet_end)
    local = now.astimezone(zone(pref.time_zone))
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until = (local + timedelta(days=1)).replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return until.astimezone(timezone.utc)


def routed(channels: list[m.NotificationChannel], pref: m.NotificationPreference | None, kind: str) -> list[m.NotificationChannel]:
    """A user's channels that hear `kind`: those its route names; every one without a route."""
    routes = (pref.routes if pref is not None else None) or {}
    if kind not in routes:
        return channels
    wanted = set(routes[kind] or ())
    return [c for c in channels if c.id in wanted]


# ------------------------------------------------------------------ readers


async def department_access(session, org_id: int, department: m.Department) -> Access:
    """What a member of the department may see: the channel is read by all of them."""
    rules = (await session.execute(
        select(m.AccessRule.department_key, m.AccessRule.scope, m.AccessRule.hidden_fields)
        .where(m.AccessRule.org_id == org_id, m.AccessRule.role == "MEMBER",
               m.AccessRule.department_key.in_(["", department.key]))
    )).all()
    member = SimpleNamespace(role="MEMBER", id=0, department_id=department.id)
    return access_of(member, department.key, [tuple(r) for r in rules])


def card_path(opportunity_id: int | None) -> str | None:
    return f"/#board/{to_global('Opportunity', opportunity_id)}" if opportunity_id else None


def user_locale(user: m.User, org: m.Organization | None) -> str:
    """The language a user reads away from the board: their own choice, else their organization's."""
    return supported(user.locale) or (supported(org.locale) if org is not None else None) or DEFAULT


def card_message(kind: str, text: str, event: m.Event | None, access: Access | None, locale: str = DEFAULT) -> dict:
    """The notification's text with the card's details its reader may see, in their language."""
    snapshot = (redact_event(access, event).snapshot if event is not None else None) or {}
    details = []
    if snapshot.get("account"):
        details.append(translate(locale, "Account: {account}", account=snapshot["account"]))
    if snapshot.get("stage"):
        details.append(translate(locale, "Stage: {stage}", stage=snapshot["stage"]))
    if snapshot.get("amount") is not None:
        details.append(translate(locale, "Amount: {amount} {currency}", amount=snapshot["amount"],
                                 currency=snapshot.get("currency") or "").rstrip())
    if snapshot.get("expectedCloseDate"):
        details.append(translate(locale, "Expected close: {date}", date=snapshot["expectedCloseDate"]))
    return message(kind, text, details, card_path(event.opportunity_id if event is not None else None), locale)


class Readers:
    """Access and visible cards per reader, loaded once per pass."""

    def __init__(self, session, org_id: int):
        self.session, self.org_id = session, org_id
        self.access: dict = {}
        self.visible: dict = {}

    async def of_user(self, user: m.User) -> Access:
        key = ("user", user.id)
        if key not in self.access:
            self.access[key] = await load_access(self.session, user)
        return self.access[key]

    async def of_department(self, department: m.Department) -> Access:
        key = ("department", department.id)
        if key not in self.access:
            self.access[key] = await department_access(self.session, self.org_id, department)
        return self.access[key]

    async def sees(self, access: Access, opportunity_ids: set[int], opportunity_id: int | None) -> bool:
        if opportunity_id is None:
            return True
        key = (access.key, tuple(sorted(opportunity_ids)))
        if key not in self.visible:
            self.visible[key] = await visible_among(self.session, access, self.org_id, opportunity_ids)
        return opportunity_id in self.visible[key]


# ------------------------------------------------------------------ enqueueing


async def ensure_cursor(session, org_id: int) -> None:
    """Start the organization's cursor at the log's head (only later events are sent)."""
    if await session.get(m.ChannelCursor, org_id) is None:
        org = await session.get(m.Organization, org_id)
        session.add(m.ChannelCursor(org_id=org_id, event_seq=org.event_seq))
        await session.flush()


async def enqueue(db, now: datetime) -> int:
    """Deliveries for the notifications past every organization's cursor; returns how many."""
    async with db.read() as session:
        org_ids = list((await session.execute(select(m.ChannelCursor.org_id).order_by(m.ChannelCursor.org_id))).scalars())
    created = 0
    for org_id in org_ids:
        while True:
            made, more = await _enqueue_org(db, org_id, now)
            created += made
            if not more:
                break
    return created


async def _enqueue_org(db, org_id: int, now: datetime) -> tuple[int, bool]:
    async with db.write() as session:
        cursor = (await session.execute(
            select(m.ChannelCursor).where(m.ChannelCursor.org_id == org_id).with_for_update()
        )).scalar_one_or_none()
        if cursor is None:
            return 0, False
        events = list((await session.execute(
            select(m.Event).where(m.Event.org_id == org_id, m.Event.seq > cursor.event_seq)
            .order_by(m.Event.seq).limit(ENQUEUE_BATCH)
        )).scalars())
        if not events:
            return 0, False
        first, last = cursor.event_seq, events[-1].seq
        cursor.event_seq = last
        channels = list((await session.execute(
            select(m.NotificationChannel).where(m.NotificationChannel.org_id == org_id, m.NotificationChannel.enabled.is_(True))
            .order_by(m.NotificationChannel.id)
        )).scalars())
        if not channels:
            return 0, len(events) == ENQUEUE_BATCH
        notes = list((await session.execute(
            select(m.Notification, m.User).join(m.User, m.User.id == m.Notification.user_id)
            .where(m.Notification.org_id == org_id, m.Notification.event_seq > first, m.Notification.event_seq <= last)
            .order_by(m.Notification.id)
        )).all())
        made = await _deliveries_for(session, org_id, now, channels, notes, {e.seq: e for e in events})
        return made, len(events) == ENQUEUE_BATCH


async def _deliveries_for(session, org_id, now, channels, notes, events) -> int:
    personal: dict[int, list] = defaultdict(list)
    departmental: dict[int, list] = defaultdict(list)
    for channel in channels:
        if channel.user_id is not None:
            personal[channel.user_id].append(channel)
        elif channel.department_id is not None:
            departmental[channel.department_id].append(channel)
    prefs = {p.user_id: p for p in (await session.execute(
        select(m.NotificationPreference).where(m.NotificationPreference.user_id.in_(list(personal) or [0]))
    )).scalars()}
    departments = {d.id: d for d in (await session.execute(
        select(m.Department).where(m.Department.id.in_(list(departmental) or [0]))
    )).scalars()}
    cards = {note.opportunity_id for note, _ in notes if note.opportunity_id}
    org = await session.get(m.Organization, org_id)
    group_locale = supported(org.locale) or DEFAULT
    readers = Readers(session, org_id)
    sent_to_group: set[tuple[int, int, str]] = set()
    made = 0
    for note, user in notes:
        event = events.get(note.event_seq)
        for channel in routed(personal.get(user.id, []), prefs.get(user.id), note.kind):
            access = await readers.of_user(user)
            if not await readers.sees(access, cards, note.opportunity_id):
                continue
            locale = user_locale(user, org)
            session.add(_delivery(channel, note, card_message(note.kind, message_in(note, locale), event, access, locale),
                                  quiet_until(prefs.get(user.id), now) or now, now, user_id=user.id))
            made += 1
        for channel in departmental.get(user.department_id, []):
            once = (channel.id, note.event_seq, note.kind)
            if (channel.kinds and note.kind not in channel.kinds) or once in sent_to_group:
                continue
            access = await readers.of_department(departments[channel.department_id])
            if not await readers.sees(access, cards, note.opportunity_id):
                continue
            sent_to_group.add(once)
            session.add(_delivery(channel, note, card_message(note.kind, message_in(note, group_locale), event, access, group_locale),
                                  now, now))
            made += 1
    return made


def _delivery(channel, note, payload, due, now, user_id=None) -> m.ChannelDelivery:
    return m.ChannelDelivery(
        org_id=channel.org_id, channel_id=channel.id, user_id=user_id, event_seq=note.event_seq, kind=note.kind,
        payload=payload, status="PENDING", attempts=0, next_attempt_at=due, created_at=now,
    )


def direct(channel: m.NotificationChannel, kind: str, payload: dict, due: datetime, now: datetime,
           user_id: int | None = None) -> m.ChannelDelivery:
    """A delivery that does not come from a notification (a digest, a test message)."""
    return m.ChannelDelivery(
        org_id=channel.org_id, channel_id=channel.id, user_id=user_id, event_seq=None, kind=kind, payload=payload,
        status="PENDING", attempts=0, next_attempt_at=due, created_at=now,
    )


# ------------------------------------------------------------------ claiming


async def claim(db, now: datetime) -> list[tuple[m.ChannelDelivery, m.NotificationChannel]]:
    """Due deliveries of enabled channels, each leased so no other process sends it too."""
    async with db.write() as session:
        rows = (await session.execute(
            select(m.ChannelDelivery, m.NotificationChannel)
            .join(m.NotificationChannel, m.NotificationChannel.id == m.ChannelDelivery.channel_id)
            .where(m.ChannelDelivery.status == "PENDING", m.ChannelDelivery.next_attempt_at <= now,
                   m.NotificationChannel.enabled.is_(True))
            .order_by(m.ChannelDelivery.next_attempt_at, m.ChannelDelivery.id)
            .limit(CLAIM_BATCH)
        )).all()
        claimed = []
        for delivery, channel in rows:
            result = await session.execute(
                update(m.ChannelDelivery)
                .where(m.ChannelDelivery.id == delivery.id, m.ChannelDelivery.status == "PENDING",
                       m.ChannelDelivery.next_attempt_at == delivery.next_attempt_at)
                .values(next_attempt_at=now + LEASE)
            )
            if result.rowcount == 1:
                claimed.append((delivery, channel))
    return claimed


async def record(db, now: datetime, outcomes, retry_delay, give_up_after: timedelta,
                 disable_after: int = 0) -> tuple[dict, list[m.NotificationChannel]]:
    """Store each attempt's outcome: delivered, retried later with backoff, or FAILED once
    it has failed for `give_up_after` since it was enqueued. A channel whose attempts fail
    `disable_after` times in a row (0: never) is disabled and its waiting deliveries fail;
    returns the stats and the channels disabled now (see `announce_disabled`)."""
    stats = {"delivered": 0, "failed": 0, "given_up": 0, "disabled": 0}
    disabled: dict[int, m.NotificationChannel] = {}
    async with db.write() as session:
        for (delivery, channel), (status_code, error) in outcomes:
            row = await session.get(m.ChannelDelivery, delivery.id)
            target = await session.get(m.NotificationChannel, channel.id)
            if row is None or target is None:  # deleted meanwhile
                continue
            record_attempt(row, target, status_code, error, now, stats, retry_delay, give_up_after)
            target.consecutive_failures = 0 if error is None else target.consecutive_failures + 1
            if error is not None and target.enabled and 0 < disable_after <= target.consecutive_failures:
                target.enabled, target.disabled_at = False, now
                target.disabled_reason = f"{target.consecutive_failures} failed deliveries in a row; last error: {error}"[:500]
                disabled[target.id] = target
        await session.flush()
        for target in disabled.values():
            # Its backlog is not sent when it comes back: the inbox has every message.
            await session.execute(
                update(m.ChannelDelivery)
                .where(m.ChannelDelivery.channel_id == target.id, m.ChannelDelivery.status == "PENDING")
                .values(status="FAILED", next_attempt_at=None,
                        last_error=f"Channel disabled after {target.consecutive_failures} failed deliveries in a row")
            )
    stats["disabled"] = len(disabled)
    return stats, list(disabled.values())


def record_attempt(row, target, status_code: int | None, error: str | None, now: datetime, stats: dict,
                   retry_delay, give_up_after: timedelta) -> None:
    """One delivery attempt's outcome on its row (a webhook's or a channel's) and on the
    target it went to: delivered, or failed and retried with back-off until
    `give_up_after` from its creation; `stats` counts."""
    row.attempts += 1
    row.last_attempt_at = now
    row.last_status_code = status_code
    if error is None:
        row.status, row.delivered_at, row.next_attempt_at, row.last_error = "DELIVERED", now, None, None
        target.failing_since = None
        stats["delivered"] += 1
        return
    row.last_error = error[:500]
    stats["failed"] += 1
    if target.failing_since is None:
        target.failing_since = now
    if now - row.created_at >= give_up_after:
        row.status, row.next_attempt_at = "FAILED", None
        stats["given_up"] += 1
    else:
        row.next_attempt_at = now + retry_delay(row.attempts)


async def announce_disabled(db, channel: m.NotificationChannel, now: datetime, publish=None) -> None:
    """One alert about a channel Baton disabled: to its owner (a user's channel) or to the
    organization's admins (a department's), as an ALERT_RAISED event (which names the
    channel by id only: events without a card reach everyone) and inbox notifications,
    which their other channels carry as usual."""
    ctx = system_ctx(db, now, publish)

    async def work(uow) -> None:
        s = uow.session
        department = await s.get(m.Department, channel.department_id) if channel.department_id else None
        event = await uow.append_event(
            "ALERT_RAISED", department_keys=[department.key] if department else [], actor_id=None,
            changes={"channel": [to_global("NotificationChannel", channel.id), "disabled"],
                     "failures": channel.consecutive_failures},
        )
        if department is None:
            uow.notify([channel.user_id], "alert",
                       "Your channel “{name}” was disabled after {count} failed deliveries in a row. "
                       "Fix it, then enable it again.",
                       opportunity_id=None, event=event, name=channel.name, count=channel.consecutive_failures)
            return
        admins = (await s.execute(select(m.User.id).where(m.User.org_id == channel.org_id, m.User.role == "ADMIN"))).scalars()
        uow.notify(list(admins), "alert",
                   "The {department} channel “{name}” was disabled after {count} failed deliveries in a row. "
                   "Fix it, then enable it again.",
                   opportunity_id=None, event=event, department=department.name, name=channel.name,
                   count=channel.consecutive_failures)

    await run_in_transaction(ctx, work, actor_id=None, org_id=channel.org_id)
