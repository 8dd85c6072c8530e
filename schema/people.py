"""Departments, users, the viewer and sign-in."""
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from sqlalchemy import select

from db import models as m
from db.loaders import MAX_DEPARTMENTS, MAX_USERS
from resolvers import auth
from resolvers import locales as locale_rules
from resolvers import people as people_rules
from resolvers import tokens as token_rules
from resolvers.paging import statement_page
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.relay import AFTER, FIRST, Connection, Node, global_id


@strawberry.enum
class Role(str, Enum):
    ADMIN = "ADMIN"
    MANAGER = "MANAGER"
    MEMBER = "MEMBER"
    VIEWER = "VIEWER"


@strawberry.type
class Department(Node):
    id: strawberry.ID = global_id("Department")
    key: str
    name: str

    @strawberry.field(description="Archived: kept for history, out of `departments`, taking no new members (restoreDepartment)")
    def archived(self) -> bool:
        return self.archived_at is not None

    @strawberry.field(description="Its active users with the MANAGER role, by name", metadata=at_most(MAX_USERS))
    async def managers(self, info: strawberry.Info) -> list["User"]:
        return await people_rules.department_managers(info.context, self.id)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Department)


@strawberry.type
class User(Node):
    id: strawberry.ID = global_id("User")
    name: str
    email: str
    handle: str
    role: Role
    locale: str | None = strawberry.field(description=(
        "The language this user chose for Baton's texts (\"en\" or \"zh-CN\"); null: their browser's "
        "Accept-Language, then the organization's language"
    ))

    deactivated_at: datetime | None = strawberry.field(description="When an admin deactivated them (UTC); null while active")

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.department_id)

    @strawberry.field(description="False once deactivated: they cannot sign in and their tokens sign nobody in")
    def active(self) -> bool:
        return self.deactivated_at is None

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.User)


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.type
class LoginPayload:
    token: str | None
    user: User | None
    user_errors: list[UserError]


@strawberry.type
class LogoutPayload:
    logged_out: bool = strawberry.field(description="The token was revoked by this call")
    user_errors: list[UserError]


@strawberry.input
class RevokeUserSessionsInput:
    user_id: strawberry.ID


@strawberry.type
class RevokeUserSessionsPayload:
    revoked_count: int = strawberry.field(description="Sign-in sessions revoked (API tokens are not)")
    user_errors: list[UserError]


@strawberry.type(description="The language and formats this request's texts follow")
class LocaleSettings:
    locale: str = strawberry.field(description=(
        "The language of this request's texts (messages, userErrors, notifications): the viewer's own choice, "
        "else the best match of Accept-Language, else the organization's"
    ))
    time_zone: str = strawberry.field(description="The organization's time zone (IANA name, e.g. Asia/Shanghai)")
    base_currency: str = strawberry.field(description="The organization's base currency (ISO 4217), totals are converted into it")
    supported: list[str] = strawberry.field(description="The languages Baton's texts come in")


@strawberry.input(description="The viewer's own language")
class SetMyLocaleInput:
    locale: str | None = strawberry.field(default=None, description="\"en\" or \"zh-CN\"; null clears the choice")


@strawberry.type(description="The result of setMyLocale")
class SetMyLocalePayload:
    user: User | None = strawberry.field(description="The viewer, with their new `locale`")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed (VALIDATION: an unsupported language)")


@strawberry.input(description="The organization's language and time zone")
class SetOrganizationLocaleInput:
    locale: str = strawberry.field(description="\"en\" or \"zh-CN\": texts for users who chose none and whose browser says nothing Baton supports")
    time_zone: str = strawberry.field(description="An IANA time zone such as Asia/Shanghai")


@strawberry.type(description="The result of setOrganizationLocale")
class SetOrganizationLocalePayload:
    locale: str | None = strawberry.field(description="The organization's language, as saved")
    time_zone: str | None = strawberry.field(description="The organization's time zone, as saved")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed (FORBIDDEN: not an admin; VALIDATION)")


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN)
    def viewer(self, info: strawberry.Info) -> User:
        return info.context.viewer.user

    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_DEPARTMENTS))
    async def departments(
        self, info: strawberry.Info,
        include_archived: Annotated[bool | None, strawberry.argument(description="Also list archived departments")] = False,
    ) -> list[Department]:
        ctx = info.context
        stmt = select(m.Department).where(m.Department.org_id == ctx.viewer.org_id)
        if not include_archived:
            stmt = stmt.where(m.Department.archived_at.is_(None))
        return await ctx.loaders.all(stmt.order_by(m.Department.id).limit(MAX_DEPARTMENTS))

    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_USERS))
    async def users(
        self, info: strawberry.Info, department_key: str | None = None,
        include_inactive: Annotated[bool | None, strawberry.argument(description="Also list deactivated users")] = False,
    ) -> list[User]:
        ctx = info.context
        stmt = select(m.User).where(m.User.org_id == ctx.viewer.org_id)
        if not include_inactive:
            stmt = stmt.where(m.User.deactivated_at.is_(None))
        if department_key:
            stmt = stmt.join(m.Department, m.Department.id == m.User.department_id).where(m.Department.key == department_key)
        return await ctx.loaders.all(stmt.order_by(m.User.name, m.User.id).limit(MAX_USERS))

    @strawberry.field(**SIGNED_IN, description=(
        "The organization's users in pages, oldest account first (by id, so pages stay stable while "
        "users are added); the same users as `users`, without its 1000-user bound"
    ))
    async def users_connection(
        self, info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        department_key: Annotated[str | None, strawberry.argument(description="Only members of this department")] = None,
        include_inactive: Annotated[bool | None, strawberry.argument(description="Also list deactivated users")] = False,
    ) -> Connection[User]:
        ctx = info.context
        stmt = select(m.User).where(m.User.org_id == ctx.viewer.org_id)
        if not include_inactive:
            stmt = stmt.where(m.User.deactivated_at.is_(None))
        if department_key:
            stmt = stmt.join(m.Department, m.Department.id == m.User.department_id).where(m.Department.key == department_key)
        return Connection(page=await statement_page(ctx.loaders, stmt, m.User.id, first, after, ctx.max_page_size, newest_first=False))

    @strawberry.field(**SIGNED_IN, description=(
        "The key a load balancer routes this organization's traffic by: send it as the `org` query parameter "
        "of /graphql and of the websocket URL, so one organization's requests reach the same processes "
        "(docs/operations.md, \"Routing organizations to processes\"). Stable for the organization's life"
    ))
    def routing_key(self, info: strawberry.Info) -> str:
        return str(info.context.viewer.org_id)

    @strawberry.field(**SIGNED_IN, description="The language, time zone and currency this request's texts and figures follow")
    async def locale_settings(self, info: strawberry.Info) -> LocaleSettings:
        found = await locale_rules.settings(info.context)
        return LocaleSettings(locale=found.locale, time_zone=found.time_zone, base_currency=found.base_currency,
                              supported=found.supported)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def login(self, info: strawberry.Info, input: LoginInput) -> LoginPayload:
        token, user, errors = await auth.login(info.context, input.email, input.password)
        return LoginPayload(token=token, user=user, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Revoke the token of this request; its open websockets close (4403)")
    async def logout(self, info: strawberry.Info) -> LogoutPayload:
        return LogoutPayload(logged_out=await auth.logout(info.context), user_errors=[])

    @strawberry.mutation(**SIGNED_IN, description="Sign a user out everywhere: revoke their sessions (admins only)")
    async def revoke_user_sessions(self, info: strawberry.Info, input: RevokeUserSessionsInput) -> RevokeUserSessionsPayload:
        count, errors = await token_rules.revoke_user_sessions(info.context, to_data(input))
        return RevokeUserSessionsPayload(revoked_count=count, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Choose the viewer's own language for Baton's texts (null: follow the browser, then the organization)")
    async def set_my_locale(
        self, info: strawberry.Info, input: Annotated[SetMyLocaleInput, strawberry.argument(description="The language to use")],
    ) -> SetMyLocalePayload:
        user, errors = await locale_rules.set_my_locale(info.context, to_data(input))
        return SetMyLocalePayload(user=user, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Set the organization's language and time zone (admins only)")
    async def set_organization_locale(
        self, info: strawberry.Info,
        input: Annotated[SetOrganizationLocaleInput, strawberry.argument(description="The organization's language and time zone")],
    ) -> SetOrganizationLocalePayload:
        org, errors = await locale_rules.set_organization_locale(info.context, to_data(input))
        return SetOrganizationLocalePayload(locale=org.locale if org else None, time_zone=org.time_zone if org else None,
                                            user_errors=errors)
