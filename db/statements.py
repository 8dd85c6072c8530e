"""Statements built once. Building a SQLAlchemy statement and computing its cache key happen
in Python on every call, before the compiled-statement cache can answer; for the statements
every write runs that cost more than running them (docs/performance.md, "Statements built
once"). Such a statement is written as a function that builds it, with its values as
parameters, and used as `built_once(build)`: the statement of the first call, kept.

`BUILD_EACH_TIME` makes every call build it again: mutation testing sets it (tests/conftest.py),
so that a mutant of a builder is what the tests run, not the statement the process built first."""
from collections.abc import Callable

from sqlalchemy.sql import Executable

BUILD_EACH_TIME = False
_built: dict[Callable[[], Executable], Executable] = {}


def built_once(build: Callable[[], Executable]) -> Executable:
    if BUILD_EACH_TIME:
        return build()
    statement = _built.get(build)
    if statement is None:
        statement = _built[build] = build()
    return statement
