"""Files on deals: the Attachment type, attachFile (a GraphQL multipart upload) and
removeAttachment. Opportunity.attachments and Stage.requiredFiles are fields of the
types in schema/opportunities.py."""
import datetime
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from db import models as m
from resolvers import attachments as rules
from schema.errors import SIGNED_IN, UserError
from schema.people import User
from schema.relay import Node, global_id


@strawberry.type
class Attachment(Node):
    id: strawberry.ID = global_id("Attachment")
    kind: str
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime.datetime

    @strawberry.field
    async def uploaded_by(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.uploaded_by_id) if self.uploaded_by_id else None

    @strawberry.field
    def download_url(self, info: strawberry.Info) -> str:
        return rules.download_url(info.context, self)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Attachment)


async def card_attachments(info: strawberry.Info, opp) -> list[Attachment]:
    return await rules.card_attachments(info.context, opp.id)


@strawberry.input
class AttachFileInput:
    opportunity_id: strawberry.ID
    kind: str
    file: Upload


@strawberry.type
class AttachFilePayload:
    attachment: Attachment | None
    opportunity: Annotated["Opportunity", strawberry.lazy("schema.opportunities")] | None
    user_errors: list[UserError]


@strawberry.input
class RemoveAttachmentInput:
    id: strawberry.ID


@strawberry.type
class RemoveAttachmentPayload:
    opportunity: Annotated["Opportunity", strawberry.lazy("schema.opportunities")] | None
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def attach_file(self, info: strawberry.Info, input: AttachFileInput) -> AttachFilePayload:
        ctx = info.context
        upload = input.file
        # One byte past the limit is enough to know it is too large.
        content = await upload.read(ctx.max_attachment_bytes + 1) if hasattr(upload, "read") else b""
        attachment, errors = await rules.attach_file(ctx, {
            "opportunity_id": input.opportunity_id, "kind": input.kind, "name": getattr(upload, "filename", None),
            "content": content,
        })
        opp = await ctx.loaders.opportunity.load(attachment.opportunity_id) if attachment else None
        return AttachFilePayload(attachment=attachment, opportunity=opp, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def remove_attachment(self, info: strawberry.Info, input: RemoveAttachmentInput) -> RemoveAttachmentPayload:
        opp, errors = await rules.remove_attachment(info.context, {"id": input.id})
        return RemoveAttachmentPayload(opportunity=opp, user_errors=errors)
