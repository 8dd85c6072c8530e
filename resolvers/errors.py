"""User mistakes travel as `UserErrors`: raised inside a unit of work (which then
rolls back and publishes nothing) and returned to clients as `userErrors`."""
from dataclasses import dataclass
from typing import NoReturn

VALIDATION = "VALIDATION"
NOT_FOUND = "NOT_FOUND"
FORBIDDEN = "FORBIDDEN"
CONFLICT = "CONFLICT"
STAGE_GATE = "STAGE_GATE"
INVALID_TRANSITION = "INVALID_TRANSITION"
DUPLICATE = "DUPLICATE"
LOCKED = "LOCKED"  # a pending approval locks the field
TOO_SOON = "TOO_SOON"  # an approval step was urged within the hour
CODES = (VALIDATION, NOT_FOUND, FORBIDDEN, CONFLICT, STAGE_GATE, INVALID_TRANSITION, DUPLICATE, LOCKED, TOO_SOON)


@dataclass(frozen=True)
class UserError:
    code: str
    message: str
    field: list[str] | None = None


class UserErrors(Exception):
    def __init__(self, errors: list[UserError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def fail(code: str, message: str, field: str | list[str] | None = None) -> NoReturn:
    if isinstance(field, str):
        field = [field]
    raise UserErrors([UserError(code, message, field)])


class Unauthenticated(Exception):
    """No valid credentials: the API answers with a GraphQL error, not userErrors."""

    extensions = {"code": "UNAUTHENTICATED"}
