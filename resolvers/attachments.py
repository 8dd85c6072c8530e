"""Files on deals (报价单, 合同, ...): attaching, listing, removing, and the signed
links they are downloaded through.

Whoever sees a card and may write sees and attaches its files (VIEWER refused, as for
follow-ups); the uploader, the card's owner and admins remove them. The bytes go to the
content-addressed store (`ctx.files`, db/files.py) before the transaction: identical
content is stored once, and a refused or failed transaction leaves at most a file no
row names. Removing an attachment deletes its row, not the bytes other rows may share.

A download link is `/files/<payload>.<signature>`: the payload (base64url JSON) names
the organization, the user, the attachment and the expiry; the signature is an
HMAC-SHA256 with the server's secret (BATON_SECRET_KEY). It carries no bearer token, may
be used again until it expires (LINK_SECONDS), and redeeming it re-checks that the user
is active and still sees the card."""
import asyncio
import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timedelta

from sqlalchemy import func, select

from db import models as m
from db.engine import Database
from resolvers import validate
from resolvers.context import Ctx, Viewer
from resolvers.errors import FORBIDDEN, NOT_FOUND, VALIDATION, UserErrors, fail
from resolvers.file_types import RISKY_EXTENSIONS, Refused, clean_name, extension, sniff
from resolvers.i18n import msg
from resolvers.ids import decode, to_global
from resolvers.rows import locked_opportunity
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import conditions, ensure_access, opportunity_clause

KIND = re.compile(r"[a-z0-9_]{1,40}")
MAX_CARD_ATTACHMENTS = 100  # files on one card (Opportunity.attachments lists them all)
MAX_REQUIRED_FILES = 10  # kinds a stage may require
LINK_SECONDS = 600
MB = 1024 * 1024

# Words for the kinds the board offers; other kinds are named by their key.
KIND_WORDS = {
    "quote": msg("a quote file"),
    "contract": msg("a contract file"),
    "signed_contract": msg("a signed contract file"),
}


def kind_words(kind: str):
    return KIND_WORDS.get(kind) or msg("a {kind} file", kind=kind)


def clean_kind(value: str | None, field: str = "kind") -> str:
    kind = (value or "").strip().lower()
    if not KIND.fullmatch(kind):
        fail(VALIDATION, "{field_name} must be 1 to 40 lowercase letters, digits or _ (e.g. quote)", field, field_name=field)
    return kind


def clean_required_files(values: list[str] | None) -> list[str]:
    """A stage's required attachment kinds: keys as `clean_kind` takes them, at most MAX_REQUIRED_FILES."""
    values = values or []
    if len(values) > MAX_REQUIRED_FILES:
        fail(VALIDATION, "requiredFiles lists at most {max_kinds} kinds", "requiredFiles", max_kinds=MAX_REQUIRED_FILES)
    return list(dict.fromkeys(clean_kind(v, "requiredFiles") for v in values))


async def kinds_on_card(session, opportunity_id: int) -> set[str]:
    return set((await session.execute(
        select(m.Attachment.kind).where(m.Attachment.opportunity_id == opportunity_id).distinct())).scalars())


# ---------------------------------------------------------------- reading


async def card_attachments(ctx: Ctx, opportunity_id: int) -> list[m.Attachment]:
    """A (visible) card's files, newest first; one statement for every card of a page."""
    loaders = ctx.loaders

    async def batch(ids):
        found = {i: [] for i in ids}
        rows = await loaders.all(select(m.Attachment).where(m.Attachment.opportunity_id.in_(ids))
                                 .order_by(m.Attachment.id.desc()))
        for row in rows:
            found[row.opportunity_id].append(row)
        return [found[i][:MAX_CARD_ATTACHMENTS] for i in ids]

    return await loaders.custom("card_attachments", batch).load(opportunity_id)


async def visible_attachment(ctx: Ctx, pk: int, session=None) -> m.Attachment | None:
    """The attachment when it is on a card the viewer sees (`node(id)`, downloads)."""
    viewer = ctx.require_viewer()
    access = await ensure_access(ctx, session)
    stmt = (select(m.Attachment).join(m.Opportunity, m.Opportunity.id == m.Attachment.opportunity_id)
            .where(m.Attachment.id == pk, m.Attachment.org_id == viewer.org_id, *conditions(opportunity_clause(access))))
    if session is not None:
        return (await session.execute(stmt)).scalar_one_or_none()
    async with ctx.db.read() as own:
        return (await own.execute(stmt)).scalar_one_or_none()


# ---------------------------------------------------------------- attaching and removing


def _content_type(content: bytes, name: str) -> str:
    if extension(name) in RISKY_EXTENSIONS:
        fail(VALIDATION, "Files of type .{extension} are not accepted: they can run code when opened", "file",
             extension=extension(name))
    try:
        return sniff(content, name)
    except Refused:
        fail(VALIDATION, "This file is a program or a web page, which can run code when opened; it is not accepted", "file")


def _limit_words(limit: int) -> str:
    return f"{round(limit / MB, 2):g} MB"


async def attach_file(ctx: Ctx, data: dict):
    """data: opportunity_id, kind, name (as the client sent it), content (bytes; the
    schema reads at most one byte past the limit)."""
    content: bytes = data.get("content") or b""
    name = clean_name(data.get("name"))
    try:
        ctx.require_writer()
        with validate.Checks() as check:
            kind = check(clean_kind, data.get("kind"))
            if len(content) > ctx.max_attachment_bytes:
                check.fail(VALIDATION, "The file is larger than {limit}", "file", limit=_limit_words(ctx.max_attachment_bytes))
            elif not content:
                check.fail(VALIDATION, "The file is empty", "file")
            else:
                content_type = check(_content_type, content, name)
    except UserErrors as exc:
        return None, exc.errors
    sha256 = await asyncio.to_thread(ctx.files.put, content)

    async def work(uow: UnitOfWork) -> m.Attachment:
        viewer = ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["opportunity_id"])
        count = await s.scalar(select(func.count()).select_from(m.Attachment).where(m.Attachment.opportunity_id == opp.id))
        if count >= MAX_CARD_ATTACHMENTS:
            fail(VALIDATION, "A deal holds at most {max_files} files: remove one first", "file", max_files=MAX_CARD_ATTACHMENTS)
        row = m.Attachment(org_id=uow.org_id, opportunity_id=opp.id, kind=kind, name=name, content_type=content_type,
                           size=len(content), sha256=sha256, uploaded_by_id=viewer.id, created_at=uow.now)
        s.add(row)
        await s.flush()
        await uow.append_event("ATTACHMENT_ADDED", opportunity_id=opp.id, changes={
            "attachment": [None, to_global("Attachment", row.id)], "kind": [None, kind], "name": [None, name],
        }, department_ids=(opp.department_id,))
        return row

    return await mutate(ctx, work)


async def remove_attachment(ctx: Ctx, data: dict):
    """The uploader, the card's owner or an admin; returns the card."""

    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        s = uow.session
        pk = decode(data.get("id"), "Attachment", "id")
        row = await visible_attachment(ctx, pk, s)
        if row is None:
            fail(NOT_FOUND, "No attachment with id {gid!r}", "id", gid=data.get("id"))
        opp = await locked_opportunity(uow, to_global("Opportunity", row.opportunity_id))
        if viewer.id not in (row.uploaded_by_id, opp.owner_id) and not viewer.is_admin:
            fail(FORBIDDEN, "Only whoever uploaded the file, the deal's owner or an admin can remove it", "id")
        await s.delete(row)
        await uow.append_event("ATTACHMENT_REMOVED", opportunity_id=opp.id, changes={
            "attachment": [to_global("Attachment", row.id), None], "kind": [row.kind, None], "name": [row.name, None],
        }, department_ids=(opp.department_id,))
        return opp

    return await mutate(ctx, work)


# ---------------------------------------------------------------- stored bytes no row names


async def unreferenced_files(db: Database, store, now: datetime, grace: timedelta) -> list:
    """The store's files that no attachment of any organization names and that were last
    written more than `grace` ago (an upload stores its bytes before its row commits, and
    storing known content again freshens the file). Removing an attachment deletes its row
    only: the same bytes may be another row's."""
    async with db.read() as s:
        named = set((await s.execute(select(m.Attachment.sha256).distinct())).scalars())
    cutoff = (now - grace).timestamp()
    return [f for f in store.stored() if f.sha256 not in named and f.mtime < cutoff]


# ---------------------------------------------------------------- download links


class BadTicket(Exception):
    """A forged, damaged or expired download link, or one whose user may no longer see the file."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode(), b"baton-file:" + payload.encode(), hashlib.sha256).digest())


def download_url(ctx: Ctx, attachment: m.Attachment) -> str:
    """A link good for LINK_SECONDS (from the start of the current minute on, so a cached
    result's links are the same within it)."""
    viewer = ctx.require_viewer()
    expires = ctx.clock().replace(second=0, microsecond=0) + timedelta(seconds=LINK_SECONDS)
    claims = {"o": viewer.org_id, "u": viewer.id, "d": viewer.department_id, "a": attachment.id, "e": int(expires.timestamp())}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"/files/{payload}.{_signature(ctx.secret_key, payload)}"


async def redeem(db: Database, key: str, ticket: str, now: datetime) -> m.Attachment:
    """The attachment a link grants, re-checked against its user's current access."""
    payload, _, signature = ticket.partition(".")
    if not key or not hmac.compare_digest(signature.encode(), _signature(key, payload).encode()):
        raise BadTicket
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        org_id, user_id, attachment_id, expires = int(claims["o"]), int(claims["u"]), int(claims["a"]), int(claims["e"])
    except (ValueError, KeyError, TypeError):
        raise BadTicket from None
    if expires <= now.timestamp():
        raise BadTicket
    async with db.read() as session:
        user = await session.get(m.User, user_id)
        if user is None or user.org_id != org_id or user.deactivated_at is not None:
            raise BadTicket
        ctx = Ctx(db=db, viewer=Viewer(user=user, department_id=claims.get("d")))
        row = await visible_attachment(ctx, attachment_id, session)
    if row is None:
        raise BadTicket
    return row
