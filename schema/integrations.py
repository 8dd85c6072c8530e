"""Integrations: API tokens, outgoing webhooks and spreadsheet import (admins only)."""
import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from db import models as m
from db.loaders import MAX_API_TOKENS, MAX_IMPORT_REJECTIONS, MAX_WEBHOOKS
from resolvers import spreadsheets
from resolvers import tokens as token_rules
from resolvers import webhooks as webhook_rules
from resolvers.errors import VALIDATION
from resolvers.errors import UserError as RuleError
from resolvers.ids import to_global
from resolvers.tokens import require_admin
from resolvers.errors import UserErrors
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.people import Department, User
from schema.relay import AFTER, FIRST, Connection, Node, global_id


@strawberry.enum
class TokenScope(str, Enum):
    READ = "READ"
    WRITE = "WRITE"


@strawberry.type
class ApiToken(Node):
    id: strawberry.ID = global_id("ApiToken")
    name: str
    created_at: datetime.datetime
    last_used_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    expires_at: datetime.datetime | None

    @strawberry.field
    def scope(self) -> TokenScope:
        return TokenScope(self.scope.upper())

    @strawberry.field(description="Set for a department token: it sees only that department's events live")
    async def department(self, info: strawberry.Info) -> Department | None:
        return await info.context.loaders.department.load(self.department_id) if self.department_id else None

    @strawberry.field(description="The user the token acts as")
    async def user(self, info: strawberry.Info) -> User:
        return await info.context.loaders.user.load(self.user_id)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.ApiToken)


@strawberry.enum
class WebhookDeliveryStatus(str, Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@strawberry.type
class WebhookDelivery(Node):
    id: strawberry.ID = global_id("WebhookDelivery")
    event_id: str = strawberry.field(description='Stable across retries and redeliveries: "<org_id>:<seq>"')
    event_seq: int
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime.datetime | None
    last_attempt_at: datetime.datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime.datetime | None
    created_at: datetime.datetime

    @strawberry.field
    def redelivery_of(self) -> strawberry.ID | None:
        return strawberry.ID(to_global("WebhookDelivery", self.redelivery_of_id)) if self.redelivery_of_id else None

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.WebhookDelivery)


@strawberry.type
class Webhook(Node):
    id: strawberry.ID = global_id("Webhook")
    url: str
    event_types: list[str] = strawberry.field(description="Empty: every event type")
    department_keys: list[str] = strawberry.field(description="Empty: every department")
    enabled: bool
    failing_since: datetime.datetime | None
    disabled_at: datetime.datetime | None
    disabled_reason: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @strawberry.field(description="The user whose access rules decide what the endpoint receives")
    async def acts_as(self, info: strawberry.Info) -> User | None:
        user_id = self.acts_as_id or self.created_by_id
        return await info.context.loaders.user.load(user_id) if user_id else None

    @strawberry.field(description="The delivery log, newest first")
    async def deliveries(
        self, info: strawberry.Info, status: list[WebhookDeliveryStatus] | None = None,
        first: int | None = None, after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        statuses = [s.value for s in status] if status else None
        return Connection(page=await webhook_rules.deliveries(info.context, self.id, statuses, first, after))

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Webhook)


@strawberry.input
class CreateApiTokenInput:
    name: str
    scope: TokenScope = TokenScope.READ
    department_key: str | None = strawberry.UNSET
    user_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Acts as this user, with their access rules (default: you; with departmentKey, that department's integration member)",
    )


@strawberry.type
class CreateApiTokenPayload:
    token: str | None = strawberry.field(description="The secret, shown only once")
    api_token: ApiToken | None
    user_errors: list[UserError]


@strawberry.input
class RevokeApiTokenInput:
    id: strawberry.ID


@strawberry.type
class ApiTokenPayload:
    api_token: ApiToken | None
    user_errors: list[UserError]


@strawberry.input
class CreateWebhookInput:
    url: str
    event_types: list[str] | None = strawberry.field(default=strawberry.UNSET, description="BoardEventType names; all when empty")
    department_keys: list[str] | None = strawberry.field(default=strawberry.UNSET, description="Only events concerning these departments")
    acts_as_user_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Receives only what this user may see (default: you)"
    )
    acts_as_department_key: str | None = strawberry.field(
        default=strawberry.UNSET, description="Receives only what a member of this department may see"
    )


@strawberry.type
class CreateWebhookPayload:
    webhook: Webhook | None
    secret: str | None = strawberry.field(description="Signs every delivery (Baton-Signature); shown only once")
    user_errors: list[UserError]


@strawberry.input
class UpdateWebhookInput:
    id: strawberry.ID
    url: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.UNSET
    department_keys: list[str] | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    acts_as_user_id: strawberry.ID | None = strawberry.UNSET
    acts_as_department_key: str | None = strawberry.UNSET


@strawberry.type
class WebhookPayload:
    webhook: Webhook | None
    user_errors: list[UserError]


@strawberry.input
class DeleteWebhookInput:
    id: strawberry.ID


@strawberry.type
class DeleteWebhookPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: strawberry.ID


@strawberry.type
class RedeliverWebhookPayload:
    delivery: WebhookDelivery | None
    user_errors: list[UserError]


@strawberry.input
class ImportOpportunitiesInput:
    file: Upload
    dry_run: bool = False
    partial: bool = strawberry.field(default=False, description="Import the valid rows even when some are rejected")
    owner: strawberry.ID | None = strawberry.UNSET
    allow_duplicates: bool = False
    assign: bool | None = strawberry.field(default=False, description=(
        "New rows without an owner get one from the assignment rules (the first matching rule, else the pool) "
        "instead of `owner`; without rules they go to `owner` or the importer"))


@strawberry.type
class ImportRejection:
    row: int = strawberry.field(description="Spreadsheet row number (the header is row 1)")
    reasons: list[str]
    code: str
    sheet: str | None


@strawberry.type
class ImportOpportunitiesPayload:
    rows: int
    valid: int
    created: int
    accounts_created: int
    dry_run: bool
    rejected: list[ImportRejection] = strawberry.field(metadata=at_most(MAX_IMPORT_REJECTIONS))
    user_errors: list[UserError]
    updated: int
    unchanged: int
    conflicts: int
    existing_rows: list[int]
    owner_given: int
    contacts_created: int
    contacts_existing: int
    contacts_linked: int
    follow_ups_created: int
    follow_ups_existing: int


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_API_TOKENS), description="Long-lived API tokens of the organization (admins only)")
    async def api_tokens(self, info: strawberry.Info, include_revoked: bool = False) -> list[ApiToken]:
        return (await token_rules.list_api_tokens(info.context, include_revoked))[:MAX_API_TOKENS]

    @strawberry.field(**SIGNED_IN, description="`apiTokens` in pages, oldest first (admins only: FORBIDDEN otherwise)")
    async def api_tokens_connection(
        self, info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        include_revoked: Annotated[bool, strawberry.argument(description="Also list revoked tokens")] = False,
    ) -> Connection[ApiToken]:
        return Connection(page=await token_rules.api_tokens_page(info.context, include_revoked, first, after))

    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_WEBHOOKS), description="Outgoing webhooks and their delivery logs (admins only)")
    async def webhooks(self, info: strawberry.Info) -> list[Webhook]:
        return (await webhook_rules.list_webhooks(info.context))[:MAX_WEBHOOKS]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def create_api_token(self, info: strawberry.Info, input: CreateApiTokenInput) -> CreateApiTokenPayload:
        token, row, errors = await token_rules.create_api_token(info.context, to_data(input))
        return CreateApiTokenPayload(token=token, api_token=row, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def revoke_api_token(self, info: strawberry.Info, input: RevokeApiTokenInput) -> ApiTokenPayload:
        row, errors = await token_rules.revoke_api_token(info.context, to_data(input))
        return ApiTokenPayload(api_token=row, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def create_webhook(self, info: strawberry.Info, input: CreateWebhookInput) -> CreateWebhookPayload:
        row, secret, errors = await webhook_rules.create_webhook(info.context, to_data(input))
        return CreateWebhookPayload(webhook=row, secret=secret, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def update_webhook(self, info: strawberry.Info, input: UpdateWebhookInput) -> WebhookPayload:
        row, errors = await webhook_rules.update_webhook(info.context, to_data(input))
        return WebhookPayload(webhook=row, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def delete_webhook(self, info: strawberry.Info, input: DeleteWebhookInput) -> DeleteWebhookPayload:
        deleted, errors = await webhook_rules.delete_webhook(info.context, to_data(input))
        return DeleteWebhookPayload(deleted_id=deleted, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Post a delivery's event again (same event id)")
    async def redeliver_webhook(self, info: strawberry.Info, input: RedeliverWebhookInput) -> RedeliverWebhookPayload:
        row, errors = await webhook_rules.redeliver(info.context, to_data(input))
        return RedeliverWebhookPayload(delivery=row, user_errors=errors)

    @strawberry.mutation(
        **SIGNED_IN,
        description="Import opportunities from a CSV or XLSX file (GraphQL multipart request; admins only)",
    )
    async def import_opportunities(self, info: strawberry.Info, input: ImportOpportunitiesInput) -> ImportOpportunitiesPayload:
        ctx = info.context

        def payload(report=None, errors=()):
            report = report or spreadsheets.ImportReport(dry_run=input.dry_run)
            return ImportOpportunitiesPayload(
                rows=report.rows, valid=report.valid, created=report.created, accounts_created=report.accounts_created,
                dry_run=report.dry_run,
                rejected=[ImportRejection(row=r.row, reasons=[t.render(ctx.locale) for t in r.texts] or r.reasons,
                                          code=r.code, sheet=r.sheet or None)
                          for r in report.rejected[:MAX_IMPORT_REJECTIONS]],
                user_errors=list(errors),
                updated=report.updated, unchanged=report.unchanged, conflicts=report.conflicts,
                existing_rows=[row for row, _ in report.existing[:MAX_IMPORT_REJECTIONS]],
                owner_given=report.owner_given, contacts_created=report.contacts_created,
                contacts_existing=report.contacts_existing, contacts_linked=report.contacts_linked,
                follow_ups_created=report.follow_ups_created, follow_ups_existing=report.follow_ups_existing,
            )

        try:
            require_admin(ctx)
            # Rows without an owner go to this user; without one they are refused.
            owner = await spreadsheets.import_owner(ctx, input.owner) if input.owner else None
        except UserErrors as exc:
            return payload(errors=exc.errors)
        upload = input.file
        data = await upload.read() if hasattr(upload, "read") else bytes(upload)
        filename = getattr(upload, "filename", None) or "upload.csv"
        try:
            report = await spreadsheets.import_opportunities(
                ctx, data, filename, dry_run=input.dry_run, partial=input.partial, default_owner=owner,
                allow_duplicates=input.allow_duplicates, assign=bool(input.assign),
            )
        except spreadsheets.SpreadsheetError as exc:
            return payload(errors=[RuleError.literal(VALIDATION, str(exc), ["file"])])
        errors = []
        if report.rejected and not input.partial and not input.dry_run:
            errors.append(RuleError(VALIDATION, "{count} row(s) rejected; nothing was imported", ["file"], {"count": len(report.rejected)}))
        return payload(report, errors)
