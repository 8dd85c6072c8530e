"""UserError types, the sign-in requirement, and masking of server faults."""
import logging
import uuid
from enum import Enum

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.permission import BasePermission

from resolvers.errors import CODES, Unauthenticated
from resolvers.paging import BadInput

log = logging.getLogger("baton.errors")


UserErrorCode = strawberry.enum(Enum("UserErrorCode", {code: code for code in CODES}, type=str))


@strawberry.type
class UserError:
    field: list[str] | None
    code: UserErrorCode
    message: str


class IsAuthenticated(BasePermission):
    message = "Sign in first: send Authorization: Bearer <token>"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source, info, **kwargs) -> bool:
        return info.context.viewer is not None


SIGNED_IN = {"permission_classes": [IsAuthenticated]}

# Exceptions whose message is meant for the client.
CLIENT_ERRORS = (Unauthenticated, BadInput, GraphQLError)


def is_server_fault(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, CLIENT_ERRORS)


class MaskServerErrors(MaskErrors):
    """Clients get 'Internal server error' and a request id; the log gets the traceback."""

    def __init__(self):
        super().__init__(should_mask_error=is_server_fault, error_message="Internal server error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = uuid.uuid4().hex[:12]
        log.error("request %s failed at %s", request_id, error.path, exc_info=error.original_error)
        return GraphQLError(
            message=f"{self.error_message} (request id {request_id})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
