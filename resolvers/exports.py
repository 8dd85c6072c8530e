"""Download links for the board (`createExportLink`): short-lived, single-use tickets
signed with the server's secret (BATON_SECRET_KEY), so no bearer token ever travels
in a URL, where access logs, browser history and proxies would keep it.

A ticket is `<payload>.<signature>`: the payload (base64url JSON) names the user, the
organization, the export (format, filter, header language), the expiry and a nonce;
the signature is an HMAC-SHA256 of the payload. The first download records the nonce
in `export_tickets`, so a second one is refused whichever process serves it."""
import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from db import models as m
from db.engine import Database
from resolvers.context import Ctx, Viewer

LINK_SECONDS = 60
FORMATS = ("csv", "xlsx")


class BadTicket(Exception):
    """A forged, damaged, expired or already used download link."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(key: str, payload: str) -> bytes:
    return _b64(hmac.new(key.encode(), b"baton-export:" + payload.encode(), hashlib.sha256).digest()).encode()


def export_link(ctx: Ctx, *, fmt: str, flt: dict, chinese: bool) -> tuple[str, datetime]:
    """(the URL of a download good once within LINK_SECONDS, its expiry)."""
    viewer = ctx.require_viewer()
    expires = ctx.clock().replace(microsecond=0) + timedelta(seconds=LINK_SECONDS)
    claims = {"u": viewer.id, "o": viewer.org_id, "x": fmt, "f": flt, "h": chinese,
              "e": int(expires.timestamp()), "n": secrets.token_hex(16)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"/export/opportunities.{fmt}?ticket={payload}.{_signature(ctx.secret_key, payload).decode()}", expires


async def redeem(db: Database, key: str, ticket: str, fmt: str, now: datetime) -> tuple[Viewer, dict]:
    """The viewer and the export (`f` filter, `h` Chinese headers) a ticket grants, once."""
    payload, _, signature = ticket.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(key, payload)):
        raise BadTicket("This download link is not valid")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if claims["x"] != fmt:
        raise BadTicket("This download link is for another format")
    if claims["e"] <= now.timestamp():
        raise BadTicket("This download link has expired: export again")
    try:
        async with db.write() as session:
            # Used links are kept a while past their expiry, for processes whose clocks lag.
            await session.execute(delete(m.ExportTicket).where(m.ExportTicket.expires_at < now - timedelta(seconds=LINK_SECONDS)))
            session.add(m.ExportTicket(nonce=claims["n"], expires_at=datetime.fromtimestamp(claims["e"], timezone.utc)))
            await session.flush()
            user = await session.get(m.User, claims["u"])
    except IntegrityError:
        raise BadTicket("This download link was already used: export again") from None
    if user is None or user.org_id != claims["o"]:
        raise BadTicket("This download link is not valid")
    return Viewer(user=user), claims
