"""Departments, users, the viewer and sign-in."""
from enum import Enum

import strawberry
from sqlalchemy import select

from db import models as m
from db.loaders import MAX_DEPARTMENTS, MAX_USERS
from resolvers import auth
from resolvers import tokens as token_rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.relay import Node, global_id


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

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.department_id)

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


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN)
    def viewer(self, info: strawberry.Info) -> User:
        return info.context.viewer.user

    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_DEPARTMENTS))
    async def departments(self, info: strawberry.Info) -> list[Department]:
        ctx = info.context
        return await ctx.loaders.all(
            select(m.Department).where(m.Department.org_id == ctx.viewer.org_id).order_by(m.Department.id).limit(MAX_DEPARTMENTS)
        )

    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_USERS))
    async def users(self, info: strawberry.Info, department_key: str | None = None) -> list[User]:
        ctx = info.context
        stmt = select(m.User).where(m.User.org_id == ctx.viewer.org_id)
        if department_key:
            stmt = stmt.join(m.Department, m.Department.id == m.User.department_id).where(m.Department.key == department_key)
        return await ctx.loaders.all(stmt.order_by(m.User.name, m.User.id).limit(MAX_USERS))


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
