"""Per-request and per-connection context: who is asking, storage, the hub."""
import functools

from starlette.requests import HTTPConnection

from api.live import SLOW_CONSUMER, close_soon
from api.live.socket import transport_of
from resolvers.auth import viewer_for_token
from resolvers.context import Ctx


def bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def new_context(app_state, request: HTTPConnection | None = None) -> Ctx:
    settings = app_state.settings
    return Ctx(
        db=app_state.db,
        publish=app_state.hub.publish,
        subscribe=app_state.hub.subscribe,
        clock=app_state.clock,
        max_page_size=settings.max_page_size,
        session_hours=settings.session_hours,
        session_idle_hours=settings.session_idle_hours,
        announce_revoked=app_state.revocations.announce,
        webhook_allow_private=getattr(settings, "webhook_allow_private", False),
        secret_key=app_state.secret_key,
        files=getattr(app_state, "files", None),
        max_attachment_bytes=int(settings.max_attachment_mb * 1024 * 1024),
        base_url=getattr(settings, "public_url", ""),
        invite_ttl_hours=getattr(settings, "invite_ttl_hours", 168),
        send_mail=mailer(settings),
        pool_claims_per_day=getattr(settings, "pool_claims_per_day", 10),
        pool_reclaim_cooldown_hours=getattr(settings, "pool_reclaim_cooldown_hours", 72),
        login_limiter=getattr(app_state, "limiter", None),
        request=request,
        drop_slow_subscriber=_dropper(request) if request is not None and request.scope["type"] == "websocket" else None,
    )


def _send_with(settings):
    async def send(to: str, subject: str, text: str) -> None:
        import asyncio
        from email.message import EmailMessage

        from api.channels import _smtp_send

        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = subject, settings.smtp_from, to
        mail.set_content(text)
        await asyncio.to_thread(_smtp_send, settings, mail)

    return send


def mailer(settings):
    """Sends one plain email (invitations) when SMTP is configured (BATON_SMTP_HOST), else None."""
    return _send_with(settings) if getattr(settings, "smtp_host", "") else None


def _dropper(websocket):
    """Close the websocket at once when one of its subscribers overflows."""

    async def close(code: int, reason: str) -> None:
        try:
            await websocket.close(code=code, reason=reason)
        except Exception:  # noqa: BLE001 - already closed or the client is gone: nothing to close
            pass

    return functools.partial(close_soon, close, SLOW_CONSUMER, transport_of(websocket.scope))


async def authenticate(ctx: Ctx, authorization: str | None) -> None:
    token = bearer(authorization)
    ctx.viewer = await viewer_for_token(ctx, token) if token else None
