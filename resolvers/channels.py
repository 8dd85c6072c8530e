"""Notification channels and preferences through the API.

Admins set a department's channels (its group hears what its people are notified
of); every user sets their own channels and preferences: which kinds go to which
of their channels, quiet hours and a daily digest. Targets are credentials (a bot's
URL carries its token, its secret signs), so answers show them masked and never
show a secret. Deliveries are made by resolvers/channel_queue.py and sent by
api/channels.py; `test_channel` queues a test message, due at once."""
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from db import models as m
from resolvers import validate
from resolvers.audit import record_change
from resolvers.channel_formats import SIGNED, TYPES, mask_target, message
from resolvers.channel_queue import DEFAULT_TIME_ZONE, direct, ensure_cursor, user_locale
from resolvers.context import Ctx
from resolvers.errors import FORBIDDEN, NOT_FOUND, VALIDATION, UserError, UserErrors, fail
from resolvers.i18n import DEFAULT, supported, translate
from resolvers.ids import decode, to_global
from resolvers.paging import BadInput, Page, keyset, page_size, to_page
from resolvers.tokens import Forbidden, department_by_key
from resolvers.uow import UnitOfWork, publish_events
from resolvers.webhooks import check_url

# Notification kinds a channel or a route may name (the inbox's kinds, plus the digest).
KINDS = ("mention", "assigned", "handoff", "approval", "alert", "escalation", "deliverable", "digest")
STATUSES = ("PENDING", "DELIVERED", "FAILED")
MAX_CHANNELS_PER_OWNER = 20
_EMAIL = re.compile(r"[^@\s<>\",;]+@[^@\s<>\",;]+\.[^@\s<>\",;]+")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _kinds(values, field: str = "kinds") -> list[str]:
    values = list(dict.fromkeys(values or []))
    unknown = [v for v in values if v not in KINDS]
    if unknown:
        fail(VALIDATION, "Unknown notification kinds: {unknown} (known: {known})", field, unknown=', '.join(unknown), known=', '.join(KINDS))
    return values


def _target(channel_type: str, value: str | None, *, allow_private: bool) -> str:
    if channel_type == "EMAIL":
        address = validate.text(value, "target", max_len=320, required=True)
        if not _EMAIL.fullmatch(address):
            fail(VALIDATION, "target must be an email address such as ana@example.com", "target")
        return address
    return check_url(value, allow_private=allow_private, field="target")


def _secret(channel_type: str, value: str | None) -> str | None:
    value = validate.text(value, "secret", max_len=200)
    if value and channel_type not in SIGNED:
        fail(VALIDATION, "{channel_type} channels are not signed: leave secret empty", "secret", channel_type=channel_type)
    return value


def hhmm(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        fail(VALIDATION, "{field_name} must be a time such as 08:30 (24-hour)", field, field_name=field)
    return value


def time_zone(value: str | None) -> str:
    name = validate.text(value, "timeZone", max_len=60, required=True)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(VALIDATION, "timeZone must be an IANA time zone such as Asia/Shanghai", "timeZone")
    return name


async def _channel(session, viewer, gid: str, field: str = "id") -> m.NotificationChannel:
    """The channel `gid` names, if the viewer may manage it: their own, or any as admin."""
    row = await session.get(m.NotificationChannel, decode(gid, "NotificationChannel", field))
    if row is None or row.org_id != viewer.org_id or not (viewer.is_admin or row.user_id == viewer.id):
        fail(NOT_FOUND, "No notification channel with id {gid!r}", field, gid=gid)
    return row


async def _logged(session, row: m.NotificationChannel | None) -> dict | None:
    """What the configuration log keeps of a channel: its target masked as the API shows
    it (as `destination`: the log's `target` is the channel's id), whether it is signed, never the secret."""
    if row is None:
        return None
    department = await session.get(m.Department, row.department_id) if row.department_id else None
    return {"name": row.name, "type": row.type, "destination": mask_target(row.type, row.target) if row.target else None,
            "signed": bool(row.secret), "kinds": list(row.kinds or []), "enabled": row.enabled,
            "departmentKey": department.key if department else None, "owner": to_global("User", row.user_id) if row.user_id else None}


async def _log(ctx: Ctx, session, viewer, row: m.NotificationChannel, action: str, before: dict | None, after: dict | None) -> UnitOfWork:
    """The change as a CONFIGURATION_CHANGED event in the write's own transaction (published after it commits)."""
    log = UnitOfWork(ctx, session, viewer.org_id, viewer.id)
    await record_change(log, "channel", to_global("NotificationChannel", row.id), action, before, after)
    await log.write_log()
    return log


async def set_channel(ctx: Ctx, data: dict) -> tuple[m.NotificationChannel | None, list[UserError]]:
    """Create a channel (no id) or change one. With departmentKey it is that department's
    (admins only); without, the viewer's own. An email channel of one's own defaults to
    one's sign-in address."""
    try:
        viewer = ctx.require_writer()
        now = ctx.clock()
        async with ctx.db.write() as session:
            row = await _channel(session, viewer, data["id"]) if data.get("id") else None
            before, before_credentials = await _logged(session, row), (row.target, row.secret) if row else None
            with validate.Checks() as check:
                channel_type = data.get("type") or (row.type if row else None)
                if channel_type not in TYPES:
                    check.fail(VALIDATION, "type must be one of {types}", "type", types=', '.join(TYPES))
                if row is not None and data.get("type") and data["type"] != row.type:
                    check.fail(VALIDATION, "A channel's type cannot change: make a new channel", "type")
                department = None
                if data.get("department_key"):
                    if row is not None:
                        check.fail(VALIDATION, "A channel's owner cannot change: make a new channel", "departmentKey")
                    elif not viewer.is_admin:
                        check.fail(FORBIDDEN, "Only an admin can set a department's channels", "departmentKey")
                    else:
                        department = await check.lookup(department_by_key(session, viewer.org_id, data["department_key"], "departmentKey"))
                target = row.target if row else None
                if "target" in data or row is None:
                    value = data.get("target")
                    if value is None and row is None and channel_type == "EMAIL" and not data.get("department_key"):
                        value = viewer.user.email
                    if channel_type in TYPES:
                        target = check(_target, channel_type, value, allow_private=ctx.webhook_allow_private)
                secret = row.secret if row else None
                if "secret" in data and channel_type in TYPES:
                    secret = check(_secret, channel_type, data["secret"])
                kinds = row.kinds if row else []
                if "kinds" in data:
                    kinds = check(_kinds, data["kinds"])
                name = row.name if row else None
                if data.get("name") is not None or row is None:
                    name = check(validate.text, data.get("name") or (channel_type or "channel").title(), "name", max_len=100, required=True)
                if row is None and department is None and data.get("department_key") is None:
                    count = len((await session.execute(select(m.NotificationChannel.id).where(
                        m.NotificationChannel.user_id == viewer.id).limit(MAX_CHANNELS_PER_OWNER))).all())
                    if count >= MAX_CHANNELS_PER_OWNER:
                        check.fail(VALIDATION, "At most {max_channels_per_owner} channels of your own", "type", max_channels_per_owner=MAX_CHANNELS_PER_OWNER)
            if row is None:
                row = m.NotificationChannel(
                    org_id=viewer.org_id, department_id=department.id if department else None,
                    user_id=None if department else viewer.id, type=channel_type, created_by_id=viewer.id, created_at=now,
                )
            row.name, row.target, row.secret, row.kinds = name, target, secret, kinds
            if row.id is None:
                session.add(row)
                await ensure_cursor(session, viewer.org_id)
            if data.get("enabled") is not None:
                if data["enabled"] and not row.enabled:
                    # A fresh start: the next N failures in a row disable it again.
                    row.failing_since, row.consecutive_failures, row.disabled_at, row.disabled_reason = None, 0, None, None
                row.enabled = data["enabled"]
            row.updated_at = now
            await session.flush()
            after, log = await _logged(session, row), None
            if before_credentials is not None:  # a new token or secret behind the same masked text
                if before_credentials[0] != row.target and after["destination"] == before["destination"]:
                    after["destinationReplaced"] = True
                if before_credentials[1] and row.secret and before_credentials[1] != row.secret:
                    after["secretReplaced"] = True
            if after != before:
                log = await _log(ctx, session, viewer, row, "updated" if before else "created", before, after)
        if log is not None:
            await publish_events(ctx, log)
        return row, []
    except UserErrors as exc:
        return None, exc.errors


async def delete_channel(ctx: Ctx, data: dict) -> tuple[str | None, list[UserError]]:
    try:
        viewer = ctx.require_writer()
        async with ctx.db.write() as session:
            row = await _channel(session, viewer, data.get("id"))
            log = await _log(ctx, session, viewer, row, "deleted", await _logged(session, row), None)
            await session.delete(row)
        await publish_events(ctx, log)
        return data["id"], []
    except UserErrors as exc:
        return None, exc.errors


async def test_channel(ctx: Ctx, data: dict) -> tuple[m.ChannelDelivery | None, list[UserError]]:
    """Queue a test message on the channel, due now (follow it in the delivery log)."""
    try:
        viewer = ctx.require_writer()
        now = ctx.clock()
        async with ctx.db.write() as session:
            row = await _channel(session, viewer, data.get("id"))
            if not row.enabled:
                fail(VALIDATION, "The channel is disabled; enable it first", "id")
            # In the language of whoever reads the channel (its user, or the organization).
            org = await session.get(m.Organization, viewer.org_id)
            owner = await session.get(m.User, row.user_id) if row.user_id else None
            locale = user_locale(owner, org) if owner is not None else supported(org.locale) or DEFAULT
            text = translate(locale, "{user} checked that Baton reaches “{channel}”.", user=viewer.user.name, channel=row.name)
            delivery = direct(row, "test", message("test", text, locale=locale), now, now, user_id=row.user_id)
            session.add(delivery)
            await session.flush()
        return delivery, []
    except UserErrors as exc:
        return None, exc.errors


async def list_channels(ctx: Ctx, first: int | None, after: str | None) -> Page:
    """The viewer's own channels; an admin sees every channel of the organization."""
    viewer = ctx.require_viewer()
    size = page_size(first, ctx.max_page_size)
    conds = [m.NotificationChannel.org_id == viewer.org_id]
    if not viewer.is_admin:
        conds.append(m.NotificationChannel.user_id == viewer.id)
    async with ctx.db.read() as session:
        rows = list((await session.execute(keyset(select(m.NotificationChannel).where(*conds), m.NotificationChannel.id, size, after))).scalars())
    return to_page(rows, size, after)


async def deliveries(ctx: Ctx, channel_id: str | None, status: list[str] | None, first: int | None, after: str | None) -> Page:
    """The delivery log, newest first: the organization's for admins (optionally one
    channel's); a user sees only their own channels' (channelId required)."""
    viewer = ctx.require_viewer()
    size = page_size(first, ctx.max_page_size)
    conds = [m.ChannelDelivery.org_id == viewer.org_id]
    async with ctx.db.read() as session:
        if channel_id is not None:
            try:
                row = await _channel(session, viewer, channel_id, "channelId")
            except UserErrors as exc:
                raise BadInput(exc.errors[0].render(ctx.locale)) from None
            conds.append(m.ChannelDelivery.channel_id == row.id)
        elif not viewer.is_admin:
            raise Forbidden("Only an admin can see every channel's deliveries; name one of your channels (channelId)")
        if status:
            conds.append(m.ChannelDelivery.status.in_(status))
        rows = list((await session.execute(keyset(select(m.ChannelDelivery).where(*conds), m.ChannelDelivery.id, size, after))).scalars())
    return to_page(rows, size, after)


# ------------------------------------------------------------------ preferences


def default_preferences(viewer) -> m.NotificationPreference:
    return m.NotificationPreference(user_id=viewer.id, org_id=viewer.org_id, routes={}, time_zone=DEFAULT_TIME_ZONE,
                                    quiet_start=None, quiet_end=None, digest_time=None)


async def preferences(ctx: Ctx) -> m.NotificationPreference:
    viewer = ctx.require_viewer()
    async with ctx.db.read() as session:
        row = await session.get(m.NotificationPreference, viewer.id)
    return row or default_preferences(viewer)


async def _routes(session, viewer, routes) -> dict:
    """{kind: [channel id]} from [{kind, channel_ids}], naming only the viewer's own channels."""
    clean: dict[str, list[int]] = {}
    for route in routes:
        kind = route.get("kind")
        _kinds([kind], "routes")
        if kind in clean:
            fail(VALIDATION, "The kind {kind!r} is routed twice", "routes", kind=kind)
        ids = []
        for gid in route.get("channel_ids") or []:
            pk = decode(gid, "NotificationChannel", "routes")
            row = await session.get(m.NotificationChannel, pk)
            if row is None or row.user_id != viewer.id:
                fail(NOT_FOUND, "No channel of yours with id {gid!r}", "routes", gid=gid)
            ids.append(pk)
        clean[kind] = sorted(set(ids))
    return clean


async def set_preferences(ctx: Ctx, data: dict) -> tuple[m.NotificationPreference | None, list[UserError]]:
    """Change what is given; `routes` replaces every route (a kind left out goes to all
    of one's channels, an empty channel list to none: inbox only)."""
    try:
        viewer = ctx.require_writer()
        async with ctx.db.write() as session:
            row = await session.get(m.NotificationPreference, viewer.id)
            current = row or default_preferences(viewer)
            with validate.Checks() as check:
                routes = current.routes
                if "routes" in data:
                    routes = await check.lookup(_routes(session, viewer, data["routes"] or []))
                tz = current.time_zone
                if "time_zone" in data:
                    tz = check(time_zone, data["time_zone"])
                start, end = current.quiet_start, current.quiet_end
                if "quiet_hours_start" in data or "quiet_hours_end" in data:
                    start = check(hhmm, data.get("quiet_hours_start"), "quietHoursStart")
                    end = check(hhmm, data.get("quiet_hours_end"), "quietHoursEnd")
                    if (start is None) != (end is None):
                        check.fail(VALIDATION, "Give both ends of the quiet hours, or neither to switch them off",
                              ["quietHoursStart", "quietHoursEnd"])
                digest = current.digest_time
                if "digest_time" in data:
                    digest = check(hhmm, data["digest_time"], "digestTime")
            if row is None:
                row = current
                session.add(row)
            row.routes, row.time_zone, row.quiet_start, row.quiet_end, row.digest_time = routes, tz, start, end, digest
            row.updated_at = ctx.clock()
        return row, []
    except UserErrors as exc:
        return None, exc.errors


def routes_of(pref: m.NotificationPreference) -> list[tuple[str, list[int]]]:
    return sorted((pref.routes or {}).items())
