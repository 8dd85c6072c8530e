"""The first run: while the database holds no organization, `baton serve` prints a
one-time setup link (`create_setup_link`) and `completeSetup` turns it into the
organization and its first administrator, signed in.

The setup token is printed to the console only, so a server reachable by others
cannot be claimed by whoever finds it first. Once any organization exists setup is
refused (FORBIDDEN), even with a valid token; of concurrent uses of one link only
the first conditional UPDATE of its `used_at` matches (resolvers/people.claim)."""
from datetime import timedelta

from sqlalchemy import exists, select

from db import models as m
from db.engine import Database
from resolvers import validate
from resolvers.audit import record_change
from resolvers.auth import start_session
from resolvers.context import Ctx, Viewer
from resolvers.errors import FORBIDDEN, VALIDATION, UserError, UserErrors, fail
from resolvers.i18n import DEFAULT
from resolvers.ids import to_global
from resolvers.locales import _locale, _time_zone
from resolvers.people import (
    SETUP, add_user, claim, department_for, email_address, find_link, new_link_token, password, person_name, revoke_links,
    usable,
)
from resolvers.setup import create_organization
from resolvers.uow import UnitOfWork, publish_events

SETUP_HOURS = 24 * 7  # a setup link printed at start lasts a week (each start prints a new one)
# The first administrator's department (one of the default departments).
ADMIN_DEPARTMENT = "sales"


async def setup_needed(db: Database) -> bool:
    """True while the database holds no organization."""
    async with db.read() as session:
        return not await session.scalar(select(exists().where(m.Organization.id.is_not(None))))


async def create_setup_link(db: Database, now) -> str | None:
    """A new setup token when the database holds no organization (earlier unused setup
    links are revoked: only the newest printed link works), else None."""
    token, digest = new_link_token()
    async with db.write() as session:
        if await session.scalar(select(exists().where(m.Organization.id.is_not(None)))):
            return None
        await revoke_links(session, now, m.OneTimeLink.kind == SETUP)
        session.add(m.OneTimeLink(kind=SETUP, token_hash=digest, created_at=now, expires_at=now + timedelta(hours=SETUP_HOURS)))
    return token


def _currency(value: str | None) -> str:
    try:
        return validate.currency(value or "USD")
    except UserErrors:
        fail(VALIDATION, "baseCurrency must be a three-letter ISO code such as USD or CNY", "baseCurrency")


async def _any_organization(session) -> bool:
    return bool(await session.scalar(select(exists().where(m.Organization.id.is_not(None)))))


async def complete_setup(ctx: Ctx, data: dict) -> tuple[str | None, m.User | None, list[UserError]]:
    """Public: create the organization (default departments; the default pipeline, or
    only lead/won/lost with defaultPipeline false) and its first ADMIN in the "sales"
    department, mark the setup link used and sign the admin in."""
    try:
        now = ctx.clock()
        async with ctx.db.read() as session:
            if await _any_organization(session):
                fail(FORBIDDEN, "Baton is already set up")
            link = await find_link(session, data.get("token"), SETUP)
        with validate.Checks() as check:
            check(usable, link, now)
            org_name = check(validate.text, data.get("organization_name"), "organizationName", max_len=200, required=True)
            locale = check(_locale, data["locale"]) if data.get("locale") is not None else DEFAULT
            time_zone = check(_time_zone, data["time_zone"]) if data.get("time_zone") is not None else "UTC"
            currency = check(_currency, data.get("base_currency"))
            admin_name = check(person_name, data.get("admin_name"), "adminName")
            admin_email = check(email_address, data.get("admin_email"), "adminEmail")
            admin_password = check(password, data.get("admin_password"), "adminPassword")
        default_pipeline = data.get("default_pipeline") is not False

        async with ctx.db.write() as session:
            await claim(session, link, now)  # one winner among concurrent setups
            if await _any_organization(session):
                fail(FORBIDDEN, "Baton is already set up")
            org = await create_organization(session, org_name, minimal_pipeline=not default_pipeline, locale=locale)
            org.locale, org.time_zone, org.base_currency = locale, time_zone, currency
            dept = await department_for(session, org.id, ADMIN_DEPARTMENT)
            user = await add_user(session, org.id, email=admin_email, name=admin_name, department=dept, role_="ADMIN",
                                   password_=admin_password, field="adminEmail")
            uow = UnitOfWork(ctx, session, org.id, user.id)
            await record_change(uow, "organization", None, "setUp", None, {
                "name": org_name, "locale": locale, "timeZone": time_zone, "baseCurrency": currency,
                "defaultPipeline": default_pipeline, "admin": to_global("User", user.id),
            })
            token, access = await start_session(ctx, session, user)
            await uow.write_log()
            await session.flush()
        await publish_events(ctx, uow)
        ctx.viewer = Viewer(user=user, access=access, org_locale=locale)
        return token, user, []
    except UserErrors as exc:
        return None, None, exc.errors
