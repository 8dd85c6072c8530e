"""Webhook delivery: turn new events into deliveries, POST what is due, retry with backoff.

`deliver_due(db, now, http_client, settings)` is one pass (the tests drive it with
their own clock); `run_loop` calls it every `webhook_interval_seconds` from the app's
lifespan. At-least-once: each endpoint's cursor and its new deliveries commit in one
transaction, a delivery is claimed with a lease before it is posted, and a crash
between posting and recording only means one more post of the same event id.

Retry schedule: 30 s after the first failure, doubling, capped at 1 h. A delivery
still failing 24 h after it was enqueued is marked FAILED; an endpoint failing for
24 h without a single success is disabled and the organization's admins get an
"alert" notification."""
import asyncio
import contextlib
import hashlib
import hmac
import logging
import socket
import ssl
from datetime import datetime, timedelta
from functools import cache

import httpx
from sqlalchemy import select, update

from db import models as m
from resolvers.channel_queue import record_attempt
from resolvers.context import system_ctx
from resolvers.uow import run_in_transaction
from resolvers.visibility import customer_event_withheld, visible_among
from resolvers.webhooks import event_body, event_id, host_address, is_public, matches, receiver_access

log = logging.getLogger("baton.webhooks")

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
LEASE = timedelta(minutes=2)
BATCH = 100
ENQUEUE_BATCH = 500


def retry_delay(attempts: int) -> timedelta:
    """Delay after the `attempts`-th failed attempt: 30 s, 60 s, 120 s ... at most 1 h."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Baton-Signature` header value: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """What a receiver does (documented in docs/integrations.md)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


async def enqueue(db, now: datetime) -> int:
    """Create deliveries for events past each enabled endpoint's cursor; returns how many."""
    created = 0
    async with db.read() as session:
        ids = list((await session.execute(select(m.Webhook.id).where(m.Webhook.enabled.is_(True)))).scalars())
    for webhook_id in ids:
        async with db.write() as session:
            webhook = (
                await session.execute(select(m.Webhook).where(m.Webhook.id == webhook_id).with_for_update())
            ).scalar_one_or_none()
            if webhook is None or not webhook.enabled:
                continue
            events = list(
                (
                    await session.execute(
                        select(m.Event)
                        .where(m.Event.org_id == webhook.org_id, m.Event.seq > webhook.cursor_seq)
                        .order_by(m.Event.seq)
                        .limit(ENQUEUE_BATCH)
                    )
                ).scalars()
            )
            # Only what the endpoint's identity may see: its cards' events, withheld fields blanked.
            access = await receiver_access(session, webhook)
            visible = await visible_among(session, access, webhook.org_id, {e.opportunity_id for e in events})
            for event in events:
                if (matches(webhook, event) and not customer_event_withheld(access.restricted, event)
                        and (event.opportunity_id is None or event.opportunity_id in visible)):
                    session.add(
                        m.WebhookDelivery(
                            org_id=webhook.org_id, webhook_id=webhook.id, event_seq=event.seq, event_id=event_id(event),
                            event_type=event.type, body=event_body(event, access), status="PENDING", attempts=0,
                            next_attempt_at=now, created_at=now,
                        )
                    )
                    created += 1
            if events:
                webhook.cursor_seq = events[-1].seq
    return created


async def _claim(db, now: datetime) -> list[tuple[m.WebhookDelivery, m.Webhook]]:
    """Due deliveries of enabled endpoints, each leased so no other process posts it too."""
    async with db.write() as session:
        rows = (
            await session.execute(
                select(m.WebhookDelivery, m.Webhook)
                .join(m.Webhook, m.Webhook.id == m.WebhookDelivery.webhook_id)
                .where(
                    m.WebhookDelivery.status == "PENDING",
                    m.WebhookDelivery.next_attempt_at <= now,
                    m.Webhook.enabled.is_(True),
                )
                .order_by(m.WebhookDelivery.next_attempt_at, m.WebhookDelivery.id)
                .limit(BATCH)
            )
        ).all()
        claimed = []
        for delivery, webhook in rows:
            result = await session.execute(
                update(m.WebhookDelivery)
                .where(
                    m.WebhookDelivery.id == delivery.id,
                    m.WebhookDelivery.status == "PENDING",
                    m.WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
                )
                .values(next_attempt_at=now + LEASE)
            )
            if result.rowcount == 1:
                claimed.append((delivery, webhook))
    return claimed


class Refused(Exception):
    """The target is a private-network or loopback address (and that is not allowed)."""


async def resolve(host: str) -> list[str]:
    """The addresses a host name resolves to (looked up once per delivery)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


async def checked_addresses(url: httpx.URL, allow_private: bool) -> list:
    """Where a delivery may connect: the host's addresses, every one of them public
    unless private targets are allowed. The post goes to these very addresses, so DNS
    cannot answer differently between the check and the connection (rebinding)."""
    host = url.raw_host.decode("ascii")
    literal = host_address(host)
    addresses = [literal] if literal else [host_address(a) for a in await resolve(host)]
    if not allow_private and not all(map(is_public, addresses)):
        raise Refused("Refused: the URL resolves to a private-network or loopback address")
    return addresses


async def _post(http_client: httpx.AsyncClient, delivery: m.WebhookDelivery, webhook: m.Webhook, now: datetime, settings) -> tuple[int | None, str | None]:
    """(HTTP status, error) of one attempt; error is None on a 2xx answer."""
    try:
        url = httpx.URL(webhook.url)
        addresses = await checked_addresses(url, getattr(settings, "webhook_allow_private", False))
        body = delivery.body.encode()
        headers = {
            "Host": url.netloc.decode("ascii"),
            # A fresh connection per delivery: pooled connections are keyed by address,
            # and one verified (TLS) for another host name must not carry this post.
            "Connection": "close",
            "Content-Type": "application/json",
            "User-Agent": "Baton-Webhooks/1",
            "Baton-Event-Id": delivery.event_id,
            "Baton-Event-Type": delivery.event_type,
            "Baton-Delivery-Id": str(delivery.id),
            "Baton-Signature": sign(webhook.secret, int(now.timestamp()), body),
        }

        async def post(address) -> httpx.Response:
            return await http_client.post(
                url.copy_with(host=str(address)), content=body, headers=headers,
                extensions={"sni_hostname": url.raw_host.decode("ascii")},  # TLS checks the name, not the address
                timeout=getattr(settings, "webhook_timeout_seconds", 10.0), follow_redirects=False,
            )

        for address in addresses:  # like any client: the next address when one does not answer
            try:
                response = await post(address)
                break
            except httpx.ConnectError:
                if address == addresses[-1]:
                    raise
    except Refused as exc:
        return None, str(exc)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


async def deliver_due(db, now: datetime, http_client: httpx.AsyncClient, settings, publish=None) -> dict:
    """One pass: enqueue new events, post due deliveries, record outcomes, disable dead endpoints."""
    stats = {"enqueued": await enqueue(db, now), "delivered": 0, "failed": 0, "given_up": 0, "disabled": 0}
    claimed = await _claim(db, now)
    if not claimed:
        return stats
    outcomes = await asyncio.gather(*(_post(http_client, d, w, now, settings) for d, w in claimed))
    to_disable: dict[int, m.Webhook] = {}
    async with db.write() as session:
        for (delivery, webhook), (status_code, error) in zip(claimed, outcomes, strict=True):
            row = await session.get(m.WebhookDelivery, delivery.id)
            hook = await session.get(m.Webhook, webhook.id)
            if row is None or hook is None:  # deleted meanwhile
                continue
            record_attempt(row, hook, status_code, error, now, stats, retry_delay, GIVE_UP_AFTER)
            if error is None:
                continue
            if hook.enabled and now - hook.failing_since >= GIVE_UP_AFTER:
                hook.enabled = False
                hook.disabled_at = now
                hook.disabled_reason = f"Failing for 24 hours; last error: {error}"[:500]
                to_disable[hook.id] = hook
        for hook in to_disable.values():
            await session.execute(
                update(m.WebhookDelivery)
                .where(m.WebhookDelivery.webhook_id == hook.id, m.WebhookDelivery.status == "PENDING")
                .values(status="FAILED", next_attempt_at=None, last_error="Endpoint disabled after failing for 24 hours")
            )
    for hook in to_disable.values():
        stats["disabled"] += 1
        await _alert_admins(db, hook, now, publish)
    return stats


async def _alert_admins(db, hook: m.Webhook, now: datetime, publish) -> None:
    """An ALERT_RAISED event and an "alert" notification for each admin of the organization."""
    ctx = system_ctx(db, now, publish)

    async def work(uow):
        admins = list(
            (
                await uow.session.execute(select(m.User.id).where(m.User.org_id == hook.org_id, m.User.role == "ADMIN"))
            ).scalars()
        )
        event = await uow.append_event(
            "ALERT_RAISED", changes={"webhook": [hook.url, "disabled"], "reason": hook.disabled_reason}, actor_id=None,
        )
        uow.notify(
            admins, "alert",
            "Webhook {url} was disabled after failing for 24 hours. Fix the receiver, then enable it again.",
            opportunity_id=None, event=event, url=hook.url,
        )

    try:
        await run_in_transaction(ctx, work, actor_id=None, org_id=hook.org_id)
    except Exception:  # noqa: BLE001 - the endpoint is disabled either way; log the failed alert
        log.exception("alerting admins about disabled webhook %s failed", hook.id)


@cache
def tls_context() -> ssl.SSLContext:
    """The certificates outgoing deliveries verify against (httpx's own default, certifi),
    loaded once per process: loading them takes longer than a delivery."""
    return httpx.create_ssl_context()


async def run_loop(state) -> None:
    """The background task: one pass every `webhook_interval_seconds` (0 or less: off)."""
    settings = state.settings
    interval = getattr(settings, "webhook_interval_seconds", 5.0)
    if interval <= 0:
        return
    from db.engine import Database

    # An engine of its own: slow receivers never hold the request pool's connections.
    db = Database(state.db.url, pool_size=2, max_overflow=2, pgbouncer=state.db.pgbouncer)
    try:
        async with contextlib.AsyncExitStack() as stack:
            client = None  # made at the first pass, not at startup (loading certificates is slow)
            while True:
                await asyncio.sleep(interval)
                try:
                    client = client or await stack.enter_async_context(httpx.AsyncClient(verify=tls_context()))
                    await deliver_due(db, state.clock(), client, settings, publish=state.hub.publish)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - keep delivering; the next pass retries
                    log.exception("webhook delivery pass failed")
    finally:
        await db.dispose()


def start(state) -> asyncio.Task:
    return asyncio.create_task(run_loop(state), name="baton-webhooks")


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001
        pass
