"""Settings (issue 24): the first run, invitations, users, passwords and departments.
Additions to the contract; the rules are in resolvers/people.py and resolvers/first_run.py."""
import datetime
from enum import Enum
from typing import Annotated

import strawberry

from db import models as m
from resolvers import first_run
from resolvers import people as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.people import Department, LoginPayload, Role, User
from schema.relay import Node, global_id


@strawberry.type(description="Whether this server still needs its first-run setup")
class SetupStatus:
    needed: bool = strawberry.field(description=(
        "True while the database holds no organization: open the setup link `baton serve` printed "
        "(<url>#/setup/<token>) and call completeSetup"
    ))


@strawberry.enum(description="What a one-time link is for")
class OneTimeLinkKind(str, Enum):
    SETUP = "SETUP"
    INVITE = "INVITE"
    RESET = "RESET"


@strawberry.enum(description="Where an invitation stands")
class InviteStatus(str, Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@strawberry.type(description="An invitation to join the organization by a single-use, expiring link")
class Invite(Node):
    id: strawberry.ID = global_id("Invite")
    email: str = strawberry.field(description="Who is invited; they sign in with this address")
    name: str | None = strawberry.field(description="The name the inviter suggested (the invited person chooses their own)")
    created_at: datetime.datetime = strawberry.field(description="When the invitation was made (UTC)")
    expires_at: datetime.datetime = strawberry.field(description="When its link stops working (UTC)")

    @strawberry.field(description="The department the invited person joins")
    async def department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.department_id)

    @strawberry.field(description="The role the invited person gets")
    def role(self) -> Role:
        return Role(self.role or "MEMBER")

    @strawberry.field(description="Who made the invitation")
    async def invited_by(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.created_by_id) if self.created_by_id else None

    @strawberry.field(description="Pending, accepted, expired or revoked (now)")
    def status(self, info: strawberry.Info) -> InviteStatus:
        return InviteStatus[rules.link_status(self, info.context.clock())]

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.OneTimeLink) and obj.kind == rules.INVITE


@strawberry.type(description="What a usable one-time link is for, shown before it is used (public)")
class LinkInfo:
    kind: OneTimeLinkKind = strawberry.field(description="Setup, invitation or password reset")
    email: str | None = strawberry.field(description="The invited address, or the address whose password is reset; null for setup")
    name: str | None = strawberry.field(description="The suggested name (invitation) or the user's name (reset); null for setup")
    organization_name: str | None = strawberry.field(description="The organization the link is for; null for setup")
    expires_at: datetime.datetime = strawberry.field(description="When the link stops working (UTC)")


@strawberry.input(description="The first run: the organization, its first administrator and how to start")
class CompleteSetupInput:
    token: str = strawberry.field(description="The one-time setup token `baton serve` printed (setup link: <url>#/setup/<token>)")
    organization_name: str = strawberry.field(description="The organization's name")
    locale: str | None = strawberry.field(default=strawberry.UNSET, description="\"en\" or \"zh-CN\" (default \"en\")")
    time_zone: str | None = strawberry.field(default=strawberry.UNSET, description="An IANA time zone such as Asia/Shanghai (default UTC)")
    base_currency: str | None = strawberry.field(default=strawberry.UNSET, description="ISO 4217 code totals are converted into (default USD)")
    admin_name: str = strawberry.field(description="The first administrator's name")
    admin_email: str = strawberry.field(description="The first administrator's email, which they sign in with")
    admin_password: str = strawberry.field(description="The first administrator's password, at least 8 characters")
    default_pipeline: bool | None = strawberry.field(default=strawberry.UNSET, description=(
        "true (default): the default departments and pipeline with its gates; false: the default departments "
        "and a minimal pipeline (lead, won, lost)"
    ))


@strawberry.type(description="The result of completeSetup")
class CompleteSetupPayload:
    token: str | None = strawberry.field(description="A sign-in session for the new administrator (send as Authorization: Bearer)")
    user: User | None = strawberry.field(description="The new administrator (ADMIN, department \"sales\")")
    user_errors: list[UserError] = strawberry.field(description=(
        "Why nothing was set up: FORBIDDEN (an organization already exists), NOT_FOUND (unknown token), "
        "VALIDATION (a used, revoked or expired link, or an input's problem)"
    ))


@strawberry.input(description="Invite someone by a single-use link")
class InviteUserInput:
    email: str = strawberry.field(description="Who to invite; no one may already sign in with it (DUPLICATE)")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A suggested name; the invited person chooses their own")
    department_key: str = strawberry.field(description="The department they join (not an archived one)")
    role: Role | None = strawberry.field(default=strawberry.UNSET, description="Their role (default MEMBER; a manager may give MEMBER or VIEWER)")


@strawberry.type(description="The result of inviteUser and revokeInvite")
class InvitePayload:
    invite: Invite | None = strawberry.field(description="The invitation")
    link: str | None = strawberry.field(description=(
        "inviteUser: the link to send, \"<public url>/#/join/<token>\" (relative, \"/#/join/<token>\", when "
        "BATON_BASE_URL is not set). Shown once: only its hash is kept. null for revokeInvite"
    ))
    emailed: bool = strawberry.field(description=(
        "The invitation was emailed (SMTP and BATON_BASE_URL configured); false: copy the link to the person"
    ))
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed (FORBIDDEN, NOT_FOUND, DUPLICATE, VALIDATION)")


@strawberry.input(description="An invitation to act on")
class InviteIdInput:
    id: strawberry.ID = strawberry.field(description="The invitation's global id")


@strawberry.input(description="Accept an invitation: become a user and sign in")
class AcceptInviteInput:
    token: str = strawberry.field(description="The token of the invitation link (after #/join/)")
    name: str = strawberry.field(description="Your name as others see it")
    password: str = strawberry.field(description="Your password, at least 8 characters")
    locale: str | None = strawberry.field(default=strawberry.UNSET, description="Your language, \"en\" or \"zh-CN\" (default: the browser's)")


@strawberry.input(description="A new user with a password set by an admin (as `baton user create`)")
class CreateUserInput:
    email: str = strawberry.field(description="What they sign in with; unique (DUPLICATE)")
    name: str = strawberry.field(description="Their name")
    department_key: str = strawberry.field(description="Their department (not an archived one)")
    role: Role | None = strawberry.field(default=strawberry.UNSET, description="Their role (default MEMBER)")
    password: str | None = strawberry.field(default=strawberry.UNSET, description=(
        "At least 8 characters; omitted: they cannot sign in until an admin makes them a reset link"
    ))


@strawberry.input(description="Change a user; omitted fields stay as they are")
class UpdateUserInput:
    id: strawberry.ID = strawberry.field(description="The user's global id")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="A new sign-in email (unique)")
    department_key: str | None = strawberry.field(default=strawberry.UNSET, description="Move them to this department (not an archived one)")
    role: Role | None = strawberry.field(default=strawberry.UNSET, description=(
        "A new role; MANAGER makes them a manager of their department. Not your own, and not away from the last active admin"
    ))


@strawberry.input(description="A user to act on")
class UserIdInput:
    id: strawberry.ID = strawberry.field(description="The user's global id")


@strawberry.type(description="The result of a change to a user")
class UserPayload:
    user: User | None = strawberry.field(description="The user as saved")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed (FORBIDDEN, NOT_FOUND, DUPLICATE, VALIDATION)")


@strawberry.input(description="Change your own password")
class ChangeMyPasswordInput:
    current_password: str = strawberry.field(description="Your password now (VALIDATION when wrong)")
    new_password: str = strawberry.field(description="The new password, at least 8 characters")


@strawberry.type(description="The result of changeMyPassword")
class ChangeMyPasswordPayload:
    changed: bool = strawberry.field(description="The password was changed; your other sessions are signed out, this one stays")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed (VALIDATION on currentPassword or newPassword)")


@strawberry.type(description="The result of createPasswordReset")
class PasswordResetPayload:
    link: str | None = strawberry.field(description=(
        "The reset link to give the user, \"<public url>/#/reset/<token>\" (relative without BATON_BASE_URL); "
        "shown once, works once, for 24 hours"
    ))
    expires_at: datetime.datetime | None = strawberry.field(description="When the link stops working (UTC)")
    user_errors: list[UserError] = strawberry.field(description="Why no link was made (FORBIDDEN, NOT_FOUND, VALIDATION)")


@strawberry.input(description="Choose a new password through a reset link")
class ResetPasswordInput:
    token: str = strawberry.field(description="The token of the reset link (after #/reset/)")
    new_password: str = strawberry.field(description="The new password, at least 8 characters")


@strawberry.input(description="Your own profile; omitted fields stay as they are")
class UpdateMyProfileInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Your name as others see it")


@strawberry.input(description="A new department")
class CreateDepartmentInput:
    key: str = strawberry.field(description="Its stable key: lowercase letters, digits, - and _ (DUPLICATE when taken)")
    name: str = strawberry.field(description="Its name as people see it")


@strawberry.input(description="Rename a department")
class UpdateDepartmentInput:
    id: strawberry.ID = strawberry.field(description="The department's global id")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Its new name")


@strawberry.input(description="A department to act on")
class DepartmentIdInput:
    id: strawberry.ID = strawberry.field(description="The department's global id")


@strawberry.type(description="The result of a change to a department")
class DepartmentPayload:
    department: Department | None = strawberry.field(description="The department as saved")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed (FORBIDDEN, NOT_FOUND, DUPLICATE, VALIDATION)")


@strawberry.type
class Query:
    @strawberry.field(description="Whether the server still needs its first-run setup (public, no sign-in)")
    async def setup_status(self, info: strawberry.Info) -> SetupStatus:
        return SetupStatus(needed=await first_run.setup_needed(info.context.db))

    @strawberry.field(**SIGNED_IN, metadata=at_most(rules.MAX_INVITES), description=(
        "Invitations, newest first (at most 500): admins see the organization's, a manager their own department's; "
        "others get FORBIDDEN"
    ))
    async def invites(
        self, info: strawberry.Info,
        status: Annotated[InviteStatus | None, strawberry.argument(description="Only invitations in this state")] = None,
    ) -> list[Invite]:
        return await rules.list_invites(info.context, status.name if status else None)

    @strawberry.field(description="What a one-time link is for (public, no sign-in); null when unknown, used, revoked or expired")
    async def link_info(
        self, info: strawberry.Info,
        token: Annotated[str, strawberry.argument(description="The token of the link (after #/setup/, #/join/ or #/reset/)")],
    ) -> LinkInfo | None:
        found = await rules.link_info(info.context, token)
        if found is None:
            return None
        link, email, name, organization = found
        return LinkInfo(kind=OneTimeLinkKind[link.kind], email=email, name=name, organization_name=organization,
                        expires_at=link.expires_at)


def _user(result) -> UserPayload:
    user, errors = result
    return UserPayload(user=user, user_errors=errors)


def _department(result) -> DepartmentPayload:
    department, errors = result
    return DepartmentPayload(department=department, user_errors=errors)


@strawberry.type
class Mutation:
    @strawberry.mutation(description=(
        "The first run (public): create the organization and its first administrator (ADMIN in \"sales\") with the "
        "setup link's token, and sign them in. FORBIDDEN once any organization exists; the link works once"
    ))
    async def complete_setup(self, info: strawberry.Info, input: CompleteSetupInput) -> CompleteSetupPayload:
        token, user, errors = await first_run.complete_setup(info.context, to_data(input))
        return CompleteSetupPayload(token=token, user=user, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description=(
        "Invite someone by a single-use link that expires after BATON_INVITE_TTL_HOURS (7 days by default); a new "
        "invitation of the same email revokes the earlier one. Admins; a manager may invite into their own "
        "department with the role MEMBER or VIEWER"
    ))
    async def invite_user(self, info: strawberry.Info, input: InviteUserInput) -> InvitePayload:
        invite, link, emailed, errors = await rules.invite_user(info.context, to_data(input))
        return InvitePayload(invite=invite, link=link, emailed=emailed, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Revoke a pending invitation: its link stops working (admins; a manager for their own department)")
    async def revoke_invite(self, info: strawberry.Info, input: InviteIdInput) -> InvitePayload:
        invite, errors = await rules.revoke_invite(info.context, to_data(input))
        return InvitePayload(invite=invite, link=None, emailed=False, user_errors=errors)

    @strawberry.mutation(description="Accept an invitation (public): creates the user and signs them in; the link works once")
    async def accept_invite(self, info: strawberry.Info, input: AcceptInviteInput) -> LoginPayload:
        token, user, errors = await rules.accept_invite(info.context, to_data(input))
        return LoginPayload(token=token, user=user, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Create a user directly (admins; the CLI's `baton user create`)")
    async def create_user(self, info: strawberry.Info, input: CreateUserInput) -> UserPayload:
        return _user(await rules.create_user(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description=(
        "Change a user's name, email, department or role (admins). A manager may edit their own department's MEMBER "
        "and VIEWER users, keeping them in it with the role MEMBER or VIEWER. Nobody changes their own role, and the "
        "last active admin stays an admin"
    ))
    async def update_user(self, info: strawberry.Info, input: UpdateUserInput) -> UserPayload:
        return _user(await rules.update_user(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description=(
        "Deactivate a user (admins): they cannot sign in, are signed out everywhere (open websockets close) and API "
        "tokens acting as them stop working until reactivated; their cards and history stay. Not yourself, not the "
        "last active admin"
    ))
    async def deactivate_user(self, info: strawberry.Info, input: UserIdInput) -> UserPayload:
        return _user(await rules.deactivate_user(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="Let a deactivated user sign in again (admins); their API tokens work again")
    async def reactivate_user(self, info: strawberry.Info, input: UserIdInput) -> UserPayload:
        return _user(await rules.reactivate_user(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="Change your own password; your other sessions are signed out, this one stays")
    async def change_my_password(self, info: strawberry.Info, input: ChangeMyPasswordInput) -> ChangeMyPasswordPayload:
        changed, errors = await rules.change_my_password(info.context, to_data(input))
        return ChangeMyPasswordPayload(changed=changed, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description=(
        "A password reset link for a user, valid 24 hours and once (admins); their earlier unused reset links stop working"
    ))
    async def create_password_reset(self, info: strawberry.Info, input: UserIdInput) -> PasswordResetPayload:
        link, row, errors = await rules.create_password_reset(info.context, to_data(input))
        return PasswordResetPayload(link=link, expires_at=row.expires_at if row else None, user_errors=errors)

    @strawberry.mutation(description="Choose a new password through a reset link (public): signs in and signs out every other session")
    async def reset_password(self, info: strawberry.Info, input: ResetPasswordInput) -> LoginPayload:
        token, user, errors = await rules.reset_password(info.context, to_data(input))
        return LoginPayload(token=token, user=user, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Change your own profile (your language: setMyLocale)")
    async def update_my_profile(self, info: strawberry.Info, input: UpdateMyProfileInput) -> UserPayload:
        return _user(await rules.update_my_profile(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="Add a department (admins; at most 10 per organization)")
    async def create_department(self, info: strawberry.Info, input: CreateDepartmentInput) -> DepartmentPayload:
        return _department(await rules.create_department(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="Rename a department (admins); its key stays")
    async def update_department(self, info: strawberry.Info, input: UpdateDepartmentInput) -> DepartmentPayload:
        return _department(await rules.update_department(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description=(
        "Archive a department (admins): it leaves `departments` and takes no new members. Refused (VALIDATION) while "
        "it has active members or holds cards in an open stage"
    ))
    async def archive_department(self, info: strawberry.Info, input: DepartmentIdInput) -> DepartmentPayload:
        return _department(await rules.archive_department(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="Restore an archived department (admins)")
    async def restore_department(self, info: strawberry.Info, input: DepartmentIdInput) -> DepartmentPayload:
        return _department(await rules.restore_department(info.context, to_data(input)))
