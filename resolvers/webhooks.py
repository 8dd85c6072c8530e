"""Outgoing webhooks: endpoints admins register, and their delivery log.

Deliveries are derived from the event log: each endpoint keeps `cursor_seq`, the
last event seq enqueued for it, so nothing is lost across restarts (at-least-once;
receivers deduplicate on the stable event id "<org_id>:<seq>"). Posting happens in
api/webhooks.py."""
import ipaddress
import json
import re
import secrets
import socket
from urllib.parse import urlsplit

from sqlalchemy import select

from db import models as m
from resolvers import validate
from resolvers.audit import CONFIGURATION_CHANGED, record_change
from resolvers.channel_formats import mask_target
from resolvers.context import Ctx
from resolvers.errors import NOT_FOUND, VALIDATION, UserError, UserErrors, fail
from resolvers.events import EVENT_TYPES
from resolvers.ids import decode, to_global
from resolvers.paging import Page, keyset, page_size, to_page
from resolvers.rows import org_user
from resolvers.tokens import department_by_key, department_member, require_admin, require_admin_query
from resolvers.uow import UnitOfWork, publish_events
from resolvers.visibility import Access, load_access, redact_event

PRIVATE_HOST_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


# What inet_aton (and so getaddrinfo, curl, browsers) reads as IPv4: 127.1, 0177.0.0.1, 0x7f000001, 2130706433.
_IPV4_NUMBERS = re.compile(r"[0-9a-fx.]+")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a URL host stands for when it is a literal, read the way an HTTP
    client's resolver reads it; None for a name."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _IPV4_NUMBERS.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            pass
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified
    addresses, including IPv4 ones wrapped in IPv6 (mapped, 6to4, NAT64)."""
    if ip.version == 6:
        ip = ip.ipv4_mapped or ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else ip)
    # is_global leaves out private, loopback, link-local and unspecified addresses, but
    # not every multicast, reserved or site-local one.
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or getattr(ip, "is_site_local", False))


def check_url(url: str | None, *, allow_private: bool, field: str = "url") -> str:
    """A clean http(s) URL, refusing private-network and loopback targets unless allowed.
    Host names are resolved and checked at each delivery (api/webhooks.py)."""
    url = validate.text(url, field, max_len=2000, required=True)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(VALIDATION, "The URL must start with http:// or https:// and name a host", field)
    try:
        parts.port
    except ValueError:
        fail(VALIDATION, "The URL's port is not valid", field)
    if parts.username or parts.password:
        fail(VALIDATION, "Put credentials in the receiver's check of the signature, not in the URL", field)
    if not allow_private:
        host = parts.hostname.lower().rstrip(".")
        address = host_address(host)
        if address is not None:
            private = not is_public(address)
        else:
            private = host == "localhost" or host.endswith(PRIVATE_HOST_SUFFIXES) or "." not in host
        if private:
            fail(VALIDATION, "Private-network and loopback addresses are not allowed as webhook targets", field)
    return url


def _event_types(values) -> list[str]:
    values = list(dict.fromkeys(values or []))
    unknown = [v for v in values if v not in EVENT_TYPES]
    if unknown:
        fail(VALIDATION, "Unknown event types: {unknown}", "eventTypes", unknown=', '.join(unknown))
    if CONFIGURATION_CHANGED in values:
        fail(VALIDATION, "CONFIGURATION_CHANGED is not delivered to webhooks: admins read it with configurationLog", "eventTypes")
    return values


async def _department_keys(session, org_id: int, keys) -> list[str]:
    keys = list(dict.fromkeys(keys or []))
    for key in keys:
        await department_by_key(session, org_id, key, "departmentKeys")
    return keys


def matches(webhook: m.Webhook, event: m.Event) -> bool:
    if event.type == CONFIGURATION_CHANGED:
        return False  # admins only, through the API (configurationLog); an endpoint acts for anyone
    if webhook.event_types and event.type not in webhook.event_types:
        return False
    if webhook.department_keys and not set(webhook.department_keys) & set(event.department_keys or []):
        return False
    return True


def event_id(event: m.Event) -> str:
    return f"{event.org_id}:{event.seq}"


async def receiver_access(session, webhook: m.Webhook) -> Access:
    """What an endpoint may receive: the access rules of the user it acts as (its
    creator when none was named); an endpoint without anyone sees no card."""
    user = await session.get(m.User, webhook.acts_as_id or webhook.created_by_id or 0)
    if user is None:
        return Access(user_id=0, department_id=0, scope="OWN")
    return await load_access(session, user)


def event_body(event: m.Event, access: Access | None = None) -> str:
    """The JSON posted for an event (its exact bytes are signed), with the card's
    snapshot; fields withheld from the endpoint's identity are null."""
    event = redact_event(access, event)
    payload = {
        "id": event_id(event),
        "type": event.type,
        "seq": event.seq,
        "occurredAt": event.occurred_at.isoformat(),
        "departmentKeys": list(event.department_keys or []),
        "changes": event.changes,
        "snapshot": event.snapshot,
        "opportunityId": to_global("Opportunity", event.opportunity_id) if event.opportunity_id else None,
        "actorId": to_global("User", event.actor_id) if event.actor_id else None,
        "taskId": to_global("Task", event.task_id) if event.task_id else None,
        "commentId": to_global("Comment", event.comment_id) if event.comment_id else None,
        "handoffId": to_global("Handoff", event.handoff_id) if event.handoff_id else None,
        "approvalId": to_global("Approval", event.approval_id) if event.approval_id else None,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


async def _acting(session, viewer, data: dict) -> int | None:
    """The user an endpoint acts as: `acts_as_user_id`, or a member of
    `acts_as_department_key`; None (its creator) when neither is given."""
    if data.get("acts_as_user_id"):
        return (await org_user(session, viewer.org_id, data["acts_as_user_id"], "actsAsUserId")).id
    if data.get("acts_as_department_key"):
        department = await department_by_key(session, viewer.org_id, data["acts_as_department_key"], "actsAsDepartmentKey")
        return (await department_member(session, viewer.org_id, department)).id
    return None


def _logged(row: m.Webhook) -> dict:
    """What the configuration log keeps of an endpoint: never its secret, nor the values of
    its URL's query (a receiver's credential often rides there)."""
    url = mask_target("WEBHOOK", row.url) if urlsplit(row.url).query else row.url
    return {"url": url, "eventTypes": list(row.event_types or []), "departmentKeys": list(row.department_keys or []),
            "enabled": row.enabled, "actsAs": to_global("User", row.acts_as_id) if row.acts_as_id else None}


async def _log(ctx: Ctx, session, viewer, row: m.Webhook, action: str, before: dict | None, after: dict | None) -> UnitOfWork:
    """The change as a CONFIGURATION_CHANGED event in the write's own transaction (published after it commits)."""
    log = UnitOfWork(ctx, session, viewer.org_id, viewer.id)
    await record_change(log, "webhook", to_global("Webhook", row.id), action, before, after)
    await log.write_log()
    return log


async def _webhook(session, org_id: int, gid: str) -> m.Webhook:
    pk = decode(gid, "Webhook", "id")
    row = await session.get(m.Webhook, pk)
    if row is None or row.org_id != org_id:
        fail(NOT_FOUND, "No webhook with id {gid!r}", "id", gid=gid)
    return row


async def create_webhook(ctx: Ctx, data: dict) -> tuple[m.Webhook | None, str | None, list[UserError]]:
    try:
        viewer = require_admin(ctx)
        now = ctx.clock()
        async with ctx.db.write() as session:
            with validate.Checks() as check:
                url = check(check_url, data.get("url"), allow_private=ctx.webhook_allow_private)
                types = check(_event_types, data.get("event_types"))
                keys = await check.lookup(_department_keys(session, viewer.org_id, data.get("department_keys")))
                acts_as = await check.lookup(_acting(session, viewer, data))
            org = await session.get(m.Organization, viewer.org_id)
            secret = "whsec_" + secrets.token_urlsafe(32)
            row = m.Webhook(
                org_id=viewer.org_id, url=url, secret=secret, event_types=types, department_keys=keys, enabled=True,
                # Only events after registration are delivered.
                cursor_seq=org.event_seq, created_by_id=viewer.id, acts_as_id=acts_as, created_at=now, updated_at=now,
            )
            session.add(row)
            await session.flush()
            log = await _log(ctx, session, viewer, row, "created", None, _logged(row))
        await publish_events(ctx, log)
        return row, secret, []
    except UserErrors as exc:
        return None, None, exc.errors


async def update_webhook(ctx: Ctx, data: dict) -> tuple[m.Webhook | None, list[UserError]]:
    try:
        viewer = require_admin(ctx)
        async with ctx.db.write() as session:
            row = await _webhook(session, viewer.org_id, data.get("id"))
            before = _logged(row)
            # Nothing is set on the row before every check passed (the lookup would flush it).
            with validate.Checks() as check:
                url, types, keys = row.url, row.event_types, row.department_keys
                if data.get("url") is not None:
                    url = check(check_url, data["url"], allow_private=ctx.webhook_allow_private)
                if "event_types" in data:
                    types = check(_event_types, data["event_types"])
                if "department_keys" in data:
                    keys = await check.lookup(_department_keys(session, viewer.org_id, data["department_keys"]))
                acts_as = row.acts_as_id
                if data.get("acts_as_user_id") or data.get("acts_as_department_key"):
                    acts_as = await check.lookup(_acting(session, viewer, data))
            row.url, row.event_types, row.department_keys, row.acts_as_id = url, types, keys, acts_as
            if data.get("enabled") is not None:
                if data["enabled"] and not row.enabled:
                    row.failing_since = None
                    row.disabled_at = None
                    row.disabled_reason = None
                row.enabled = data["enabled"]
            row.updated_at = ctx.clock()
            log = await _log(ctx, session, viewer, row, "updated", before, _logged(row)) if _logged(row) != before else None
        if log is not None:
            await publish_events(ctx, log)
        return row, []
    except UserErrors as exc:
        return None, exc.errors


async def delete_webhook(ctx: Ctx, data: dict) -> tuple[str | None, list[UserError]]:
    try:
        viewer = require_admin(ctx)
        async with ctx.db.write() as session:
            row = await _webhook(session, viewer.org_id, data.get("id"))
            log = await _log(ctx, session, viewer, row, "deleted", _logged(row), None)
            await session.delete(row)
        await publish_events(ctx, log)
        return data["id"], []
    except UserErrors as exc:
        return None, exc.errors


async def redeliver(ctx: Ctx, data: dict) -> tuple[m.WebhookDelivery | None, list[UserError]]:
    """A fresh delivery of the same event (same event id and body), due now."""
    try:
        viewer = require_admin(ctx)
        pk = decode(data.get("delivery_id"), "WebhookDelivery", "deliveryId")
        now = ctx.clock()
        async with ctx.db.write() as session:
            original = await session.get(m.WebhookDelivery, pk)
            if original is None or original.org_id != viewer.org_id:
                fail(NOT_FOUND, "No delivery with id {delivery_id!r}", "deliveryId", delivery_id=data.get('delivery_id'))
            webhook = await session.get(m.Webhook, original.webhook_id)
            if not webhook.enabled:
                fail(VALIDATION, "The webhook is disabled; enable it first", "deliveryId")
            row = m.WebhookDelivery(
                org_id=original.org_id, webhook_id=original.webhook_id, event_seq=original.event_seq,
                event_id=original.event_id, event_type=original.event_type, body=original.body, status="PENDING",
                attempts=0, next_attempt_at=now, redelivery_of_id=original.id, created_at=now,
            )
            session.add(row)
            await session.flush()
        return row, []
    except UserErrors as exc:
        return None, exc.errors


async def list_webhooks(ctx: Ctx) -> list[m.Webhook]:
    viewer = require_admin_query(ctx)
    async with ctx.db.read() as session:
        return list(
            (await session.execute(select(m.Webhook).where(m.Webhook.org_id == viewer.org_id).order_by(m.Webhook.id))).scalars()
        )


async def deliveries(ctx: Ctx, webhook_id: int, status: list[str] | None, first: int | None, after: str | None) -> Page:
    """An endpoint's delivery log, newest first."""
    require_admin_query(ctx)
    size = page_size(first, ctx.max_page_size)
    conds = [m.WebhookDelivery.webhook_id == webhook_id]
    if status:
        conds.append(m.WebhookDelivery.status.in_(status))
    async with ctx.db.read() as session:
        rows = list((await session.execute(keyset(select(m.WebhookDelivery).where(*conds), m.WebhookDelivery.id, size, after))).scalars())
    return to_page(rows, size, after)
