"""Input checks at the edge: each returns the clean value or raises a VALIDATION user error.
`Checks` runs several of them and reports every problem at once."""
import re
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from resolvers.errors import VALIDATION, UserError, UserErrors, fail

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_AMOUNT = Decimal("1e16")
MAX_TAGS = 20
MAX_SOURCE = 100  # an opportunity's source (线索来源)


def text(value: str | None, field: str, *, max_len: int, required: bool = False) -> str | None:
    if value is None:
        if required:
            fail(VALIDATION, "{field_name} is required", field, field_name=field)
        return None
    if _CONTROL.search(value):
        fail(VALIDATION, "{field_name} contains control characters", field, field_name=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        fail(VALIDATION, "{field_name} is not valid Unicode", field, field_name=field)
    value = value.strip()
    if required and not value:
        fail(VALIDATION, "{field_name} must not be blank", field, field_name=field)
    if len(value) > max_len:
        fail(VALIDATION, "{field_name} is longer than {max_len} characters", field, field_name=field, max_len=max_len)
    return value or None


def amount(value: Decimal | None, field: str = "amount") -> Decimal | None:
    if value is None:
        return None
    try:
        if not isinstance(value, Decimal):
            value = Decimal(str(value).strip())
        if not value.is_finite():
            raise InvalidOperation
        quantized = value.quantize(Decimal("0.01"))
    except InvalidOperation:
        fail(VALIDATION, "{field_name} is not a number", field, field_name=field)
    if quantized < 0:
        fail(VALIDATION, "{field_name} must not be negative", field, field_name=field)
    if quantized >= MAX_AMOUNT or quantized != value:
        fail(VALIDATION, "{field_name} allows at most 16 digits and 2 decimals", field, field_name=field)
    return quantized


def probability(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 100:
        fail(VALIDATION, "probability must be between 0 and 100", "probability")
    return value


def currency(value: str | None) -> str:
    value = (value or "USD").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", value):
        fail(VALIDATION, "currency must be a three-letter ISO code such as USD or CNY", "currency")
    return value


def close_date(value: date | None, field: str = "expectedCloseDate") -> date | None:
    if value is not None and not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        fail(VALIDATION, "{field_name} must be between 2000 and 2100", field, field_name=field)
    return value


def tags(values: list[str] | None) -> list[str]:
    if not values:
        return []
    if len(values) > MAX_TAGS:
        fail(VALIDATION, "at most {max_tags} tags", "tags", max_tags=MAX_TAGS)
    clean = []
    for value in values:
        tag = text(value, "tags", max_len=40, required=True).lower()
        if tag not in clean:
            clean.append(tag)
    return clean


class Checks:
    """Runs a form's checks and keeps the user errors they raise, so one answer lists
    every problem instead of the first (the importer collects a row's problems the same
    way). Leaving a `with Checks() as check:` block raises them all together."""

    def __init__(self) -> None:
        self.errors: list[UserError] = []

    def __call__(self, clean: Callable[..., T], *args, **kwargs) -> T | None:
        """clean(*args, **kwargs), or None when it raised (its errors are kept)."""
        try:
            return clean(*args, **kwargs)
        except UserErrors as exc:
            self.errors.extend(exc.errors)
            return None

    def fail(self, code: str, message: str, field: str | list[str] | None = None, **params) -> None:
        """Keep one more user error (errors.fail, without raising)."""
        self(fail, code, message, field, **params)

    async def lookup(self, found: Awaitable[T]) -> T | None:
        """The same for a lookup of a row the input names (an id, a key)."""
        try:
            return await found
        except UserErrors as exc:
            self.errors.extend(exc.errors)
            return None

    def __enter__(self) -> "Checks":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.errors:
            raise UserErrors(self.errors)
