"""Channel delivery: turn new notifications into deliveries, send what is due (SMTP
mail, Feishu / DingTalk / WeCom bots), retry with backoff.

`deliver_due(db, now, http_client, settings)` is one pass (tests drive it with their
clock); `run_loop` calls it every `channel_interval_seconds`. The same guarantees as
webhooks (api/webhooks.py): deliveries and the cursor commit together, each delivery
is leased before it is sent, retries back off 30 s, 60 s ... 1 h, and a delivery
failing for 24 h is FAILED. Every send of a pass runs at once with its own timeout,
so a broken bot or a slow mail server holds up nobody else.

Bot URLs carry credentials (DingTalk's access_token, WeCom's key, Feishu's hook
token) and secrets sign: they are pinned to checked addresses like webhooks (no
private targets unless BATON_WEBHOOK_ALLOW_PRIVATE), masked in the HTTP client's
log lines, and scrubbed from the errors the delivery log keeps."""
import asyncio
import contextlib
import functools
import logging
import re
import smtplib
import ssl
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from api.security import redact
from api.webhooks import GIVE_UP_AFTER, Refused, checked_addresses, retry_delay, tls_context
from db import models as m
from resolvers import channel_queue
from resolvers.channel_formats import accepted, bot_request, email

log = logging.getLogger("baton.channels")

_HOOK_TOKEN = re.compile(r"(/hook/)[^/?#\s\"']+")


def _mask(text: str) -> str:
    return _HOOK_TOKEN.sub(r"\1***", redact(text))


class MaskBotCredentials(logging.Filter):
    """httpx logs every request's URL at INFO ("HTTP Request: POST https://..."): mask the
    bots' credentials in it (query secrets such as key= and access_token=, Feishu's
    /hook/<token>)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(str(a)) if isinstance(a, (str, httpx.URL)) else a for a in record.args)
        return True


class HideSqlParameters(logging.Filter):
    """aiosqlite logs each call at DEBUG with its SQL parameters, which hold channel
    targets and secrets as they are written: keep the statement, drop the values.
    (SQLAlchemy's own statement log hides them: db/engine.py, hide_parameters.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_statement_only(a) for a in record.args)
        return True


def _statement_only(value):
    if isinstance(value, functools.partial):
        sql = next((a for a in value.args if isinstance(a, str)), None)
        return f"{getattr(value.func, '__name__', 'call')}({sql!r}, [parameters hidden])" if sql else getattr(value.func, "__name__", "call")
    return value


def mask_logs() -> None:
    for name, kind in (("httpx", MaskBotCredentials), ("httpcore", MaskBotCredentials), ("aiosqlite", HideSqlParameters)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


def scrub(text: str, channel: m.NotificationChannel, settings) -> str:
    """An error message without the channel's credentials or the SMTP password."""
    secrets = [channel.target if channel.type != "EMAIL" else "", channel.secret or "", settings.smtp_password or ""]
    if channel.type != "EMAIL":
        parts = urlsplit(channel.target)
        secrets += [pair.split("=", 1)[-1] for pair in parts.query.split("&") if pair]
        secrets.append(parts.path.rstrip("/").rsplit("/", 1)[-1])
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _mask(text)


# ------------------------------------------------------------------ senders


async def post_bot(http_client: httpx.AsyncClient, channel: m.NotificationChannel, payload: dict, now: datetime,
                   settings) -> tuple[int | None, str | None]:
    """(HTTP status, error) of one post to a bot; error is None when the bot took it."""
    try:
        url, body = bot_request(channel.type, channel.target, channel.secret, payload, settings.base_url, now.timestamp())
        target = httpx.URL(url)
        addresses = await checked_addresses(target, getattr(settings, "webhook_allow_private", False))
        headers = {
            "Host": target.netloc.decode("ascii"),
            "Connection": "close",  # a fresh connection per post, as for webhooks
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Baton-Notifications/1",
        }
        for address in addresses:
            try:
                response = await http_client.post(
                    target.copy_with(host=str(address)), content=body, headers=headers,
                    extensions={"sni_hostname": target.raw_host.decode("ascii")},
                    timeout=getattr(settings, "webhook_timeout_seconds", 10.0), follow_redirects=False,
                )
                break
            except httpx.ConnectError:
                if address == addresses[-1]:
                    raise
    except Refused as exc:
        return None, str(exc)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if not 200 <= response.status_code < 300:
        return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"
    why = accepted(channel.type, response.content)
    return response.status_code, why


def _smtp_send(settings, mail) -> None:
    if not settings.smtp_host:
        raise smtplib.SMTPException("No SMTP server is configured (BATON_SMTP_HOST)")
    # Certificates are always verified; a private CA is given as a file, never by turning checks off.
    ca_file = getattr(settings, "smtp_ca_file", None)
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if settings.smtp_ssl:
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
    with smtp:
        if settings.smtp_starttls and not settings.smtp_ssl:
            smtp.starttls(context=context)
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(mail)


async def send_email(channel: m.NotificationChannel, payload: dict, settings) -> tuple[int | None, str | None]:
    try:
        mail = email(payload, settings.base_url, settings.smtp_from, channel.target)
        await asyncio.to_thread(_smtp_send, settings, mail)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        code = getattr(exc, "smtp_code", None)
        return code if isinstance(code, int) else None, f"{type(exc).__name__}: {exc}"
    return 250, None


async def _send(http_client, delivery: m.ChannelDelivery, channel: m.NotificationChannel, now, settings):
    try:
        if channel.type == "EMAIL":
            status, error = await send_email(channel, delivery.payload, settings)
        else:
            status, error = await post_bot(http_client, channel, delivery.payload, now, settings)
    except Exception as exc:  # noqa: BLE001 - one channel's fault must not stop the pass
        status, error = None, f"{type(exc).__name__}: {exc}"
    return status, scrub(error, channel, settings)[:500] if error else None


# ------------------------------------------------------------------ the loop


async def deliver_due(db, now: datetime, http_client: httpx.AsyncClient, settings, publish=None) -> dict:
    """One pass: enqueue new notifications, send due deliveries, record outcomes, disable
    channels failing `channel_disable_after_failures` times in a row and tell their owners."""
    mask_logs()
    stats = {"enqueued": await channel_queue.enqueue(db, now), "delivered": 0, "failed": 0, "given_up": 0, "disabled": 0}
    claimed = await channel_queue.claim(db, now)
    if not claimed:
        return stats
    outcomes = await asyncio.gather(*(_send(http_client, d, c, now, settings) for d, c in claimed))
    recorded, disabled = await channel_queue.record(
        db, now, zip(claimed, outcomes, strict=True), retry_delay, GIVE_UP_AFTER,
        disable_after=getattr(settings, "channel_disable_after_failures", 0))
    stats.update(recorded)
    for channel in disabled:
        try:
            await channel_queue.announce_disabled(db, channel, now, publish)
        except Exception:  # noqa: BLE001 - the channel is disabled either way; log the lost alert
            log.exception("alerting about disabled channel %s failed", channel.id)
    return stats


async def run_loop(state) -> None:
    """The background task: one pass every `channel_interval_seconds` (0 or less: off)."""
    settings = state.settings
    interval = getattr(settings, "channel_interval_seconds", 5.0)
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
                    log.exception("channel delivery pass failed")
    finally:
        await db.dispose()


def start(state) -> asyncio.Task:
    mask_logs()
    return asyncio.create_task(run_loop(state), name="baton-channels")


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001
        pass
