"""Language and time zone settings: a user's own language, the organization's
language and time zone, and what the current request reads in."""
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from db import models as m
from resolvers import validate
from resolvers.audit import record_change
from resolvers.context import Ctx
from resolvers.errors import FORBIDDEN, VALIDATION, UserError, UserErrors, fail
from resolvers.i18n import SUPPORTED, supported
from resolvers.tokens import require_admin
from resolvers.uow import UnitOfWork, publish_events


@dataclass
class LocaleSettings:
    """What the current request reads in, and the organization's settings texts and dates follow."""

    locale: str
    time_zone: str
    base_currency: str
    supported: list[str]


async def settings(ctx: Ctx) -> LocaleSettings:
    viewer = ctx.require_viewer()
    async with ctx.db.read() as session:
        org = await session.get(m.Organization, viewer.org_id)
    return LocaleSettings(ctx.locale, org.time_zone, org.base_currency, list(SUPPORTED))


def _locale(value: str | None) -> str:
    found = supported(value)
    if found is None:
        fail(VALIDATION, "locale must be one of {supported}", "locale", supported=list(SUPPORTED))
    return found


def _time_zone(value: str | None) -> str:
    value = (value or "").strip()
    try:
        if not value or len(value) > 60:
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        fail(VALIDATION, "timeZone must be an IANA time zone such as Asia/Shanghai", "timeZone")
    return value


async def set_my_locale(ctx: Ctx, data: dict) -> tuple[m.User | None, list[UserError]]:
    """The viewer's own language; null goes back to Accept-Language, then the organization's."""
    try:
        viewer = ctx.require_viewer()
        # A read-only token must not change even a preference; read-only roles may choose their language.
        if viewer.scope != "write":
            fail(FORBIDDEN, "This token is read-only")
        locale = _locale(data["locale"]) if data.get("locale") is not None else None
        async with ctx.db.write() as session:
            user = await session.get(m.User, viewer.id)
            user.locale = locale
        viewer.user.locale = locale  # the rest of this answer is already in the new language
        return user, []
    except UserErrors as exc:
        return None, exc.errors


async def set_organization_locale(ctx: Ctx, data: dict) -> tuple[m.Organization | None, list[UserError]]:
    """The organization's language (for texts when nothing else says) and time zone (admins only)."""
    try:
        viewer = require_admin(ctx)
        with validate.Checks() as check:
            locale = check(_locale, data.get("locale"))
            time_zone = check(_time_zone, data.get("time_zone"))
        log = None
        async with ctx.db.write() as session:
            org = await session.get(m.Organization, viewer.org_id)
            before = {"locale": org.locale, "timeZone": org.time_zone}
            org.locale, org.time_zone = locale, time_zone
            if before != {"locale": locale, "timeZone": time_zone}:  # the configuration log
                log = UnitOfWork(ctx, session, viewer.org_id, viewer.id)
                await record_change(log, "organization", None, "updated", before, {"locale": locale, "timeZone": time_zone})
                await log.write_log()
        if log is not None:
            await publish_events(ctx, log)
        viewer.org_locale = locale
        return org, []
    except UserErrors as exc:
        return None, exc.errors
