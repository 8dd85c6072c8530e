"""Download links for the board's export button (resolvers/exports.py)."""
import datetime
from enum import Enum

import strawberry

from resolvers import exports as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.opportunities import OpportunityFilter


@strawberry.enum
class ExportFormat(str, Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.input
class CreateExportLinkInput:
    format: ExportFormat = ExportFormat.CSV
    filter: OpportunityFilter | None = None
    chinese_headers: bool = strawberry.field(default=False, description="Column headers in Chinese")


@strawberry.type
class ExportLinkPayload:
    url: str | None = strawberry.field(description="Relative to the server; good for one download")
    expires_at: datetime.datetime | None
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        **SIGNED_IN,
        description=f"A link that downloads the opportunities matching `filter`, once, within {rules.LINK_SECONDS} seconds",
    )
    def create_export_link(self, info: strawberry.Info, input: CreateExportLinkInput) -> ExportLinkPayload:
        url, expires_at = rules.export_link(
            info.context, fmt=input.format.value, flt=to_data(input.filter), chinese=input.chinese_headers
        )
        return ExportLinkPayload(url=url, expires_at=expires_at, user_errors=[])
