"""UserError types, the sign-in requirement, and masking of server faults."""
import logging
import uuid
from enum import Enum

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors
from strawberry.permission import BasePermission

from resolvers.errors import CODES, Unauthenticated
from resolvers.paging import BadInput
from resolvers.visibility import ensure_access

log = logging.getLogger("baton.errors")


UserErrorCode = strawberry.enum(Enum("UserErrorCode", {code: code for code in CODES}, type=str))


def localized_message(root, info: strawberry.Info) -> str:
    """A rule's error rendered in the viewer's language (resolvers/i18n.py) here, at the edge."""
    render = getattr(root, "render", None)
    return render(info.context.locale) if render is not None else root.message


@strawberry.type
class UserError:
    field: list[str] | None
    code: UserErrorCode
    message: str = strawberry.field(resolver=localized_message)


class IsAuthenticated(BasePermission):
    message = "Sign in first: send Authorization: Bearer <token>"
    error_extensions = {"code": "UNAUTHENTICATED"}

    async def has_permission(self, source, info, **kwargs) -> bool:
        if info.context.viewer is None:
            return False
        # Whatever the field reads is filtered by the viewer's access rule: have it loaded
        # (sign-in already did, in its own statement; other callers load it here).
        await ensure_access(info.context)
        return True


SIGNED_IN = {"permission_classes": [IsAuthenticated]}

# Exceptions whose message is meant for the client.
CLIENT_ERRORS = (Unauthenticated, BadInput, GraphQLError)


def is_server_fault(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, CLIENT_ERRORS)


def copy_error(error: GraphQLError, *, message: str | None = None, code: str | None = None) -> GraphQLError:
    """`error` with another message or `extensions.code` (errors may be cached: never mutated)."""
    return GraphQLError(
        message=error.message if message is None else message, nodes=error.nodes, source=error.source,
        positions=error.positions, path=error.path, original_error=error.original_error,
        extensions=error.extensions if code is None else {**(error.extensions or {}), "code": code},
    )


class MaskServerErrors(MaskErrors):
    """Clients get 'Internal server error' and a request id; the log gets the traceback.
    Every other error leaves with an `extensions.code`: GraphQL's own errors get
    Apollo's codes (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT)."""

    def __init__(self):
        super().__init__(should_mask_error=is_server_fault, error_message="Internal server error")
        self.executed = False

    def on_execute(self):
        self.executed = True  # errors from here on are not parse or validation errors
        yield

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [
            self.anonymise_error(error) if is_server_fault(error)
            else error if (error.extensions or {}).get("code")
            else copy_error(error, code=self.code_for(error))
            for error in errors
        ]

    def code_for(self, error: GraphQLError) -> str:
        if isinstance(error, GraphQLSyntaxError):
            return "GRAPHQL_PARSE_FAILED"
        if not self.executed:
            return "GRAPHQL_VALIDATION_FAILED"
        if error.path is not None and error.original_error is None:
            return "INTERNAL_SERVER_ERROR"  # graphql-core's own check of a result (a null in a non-null field)
        return "BAD_USER_INPUT"  # variables or arguments that do not coerce

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
