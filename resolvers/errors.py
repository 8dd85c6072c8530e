"""User mistakes travel as `UserErrors`: raised inside a unit of work (which then
rolls back and publishes nothing) and returned to clients as `userErrors`."""
from dataclasses import dataclass, field as dataclass_field
from typing import NoReturn

from resolvers.i18n import DEFAULT, escape, translate

VALIDATION = "VALIDATION"
NOT_FOUND = "NOT_FOUND"
FORBIDDEN = "FORBIDDEN"
CONFLICT = "CONFLICT"
STAGE_GATE = "STAGE_GATE"
INVALID_TRANSITION = "INVALID_TRANSITION"
DUPLICATE = "DUPLICATE"
LOCKED = "LOCKED"  # a pending approval locks the field
TOO_SOON = "TOO_SOON"  # an approval step was urged within the hour
POSSIBLE_DUPLICATE = "POSSIBLE_DUPLICATE"  # a similar customer exists (resolvers/accounts.py)
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"  # a user's pool claims for the day are used up (resolvers/pool.py)
COOLDOWN = "COOLDOWN"  # claiming back a deal one gave to the pool too soon (resolvers/pool.py)
CODES = (VALIDATION, NOT_FOUND, FORBIDDEN, CONFLICT, STAGE_GATE, INVALID_TRANSITION, DUPLICATE, LOCKED, TOO_SOON, POSSIBLE_DUPLICATE,
         LIMIT_EXCEEDED, COOLDOWN)


@dataclass(frozen=True)
class UserError:
    """`template` is the English message with `{name}` placeholders (resolvers/i18n.py);
    the API renders it in the viewer's language at the edge (schema/errors.py)."""

    code: str
    template: str
    field: list[str] | None = None
    params: dict = dataclass_field(default_factory=dict)

    @property
    def message(self) -> str:
        """In English, as written."""
        return self.render(DEFAULT)

    def render(self, locale: str | None) -> str:
        return translate(locale, self.template, **self.params)

    @classmethod
    def literal(cls, code: str, text: str, field: list[str] | None = None) -> "UserError":
        """An error whose text is not a template (never translated)."""
        return cls(code, escape(text), field)


class UserErrors(Exception):
    def __init__(self, errors: list[UserError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def fail(code: str, message: str, field: str | list[str] | None = None, **params) -> NoReturn:
    """Raise one user error; `message` is an English template filled in from `params`."""
    if isinstance(field, str):
        field = [field]
    raise UserErrors([UserError(code, message, field, params)])


class Unauthenticated(Exception):
    """No valid credentials: the API answers with a GraphQL error, not userErrors."""

    extensions = {"code": "UNAUTHENTICATED"}
