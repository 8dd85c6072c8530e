"""The contract between the live-event hub (api/live/hub.py) and the live rules
(resolvers/live.py): what a subscriber is handed and what it may ask of its feed.

The hub implements it; the rules only consume it, so they never touch a socket:
a subscriber that falls too far behind is dropped through the `on_overflow`
callback it passed to `subscribe` (the transport decides how to close)."""
from collections.abc import Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from db import models as m


class SlowConsumer(Exception):
    """The subscriber fell more than `subscriber_buffer` messages behind."""


@dataclass(eq=False)
class Page:
    """What one channel learnt from the log in one step, handed to every local feed.

    `rows` are exactly the log's events with after < seq <= upto, oldest first, read
    ONCE per channel per process; every subscriber of the organization gets the same
    list. `rows is None` means "not read here" (no reader configured, the range was
    too long to hold, or the read failed): subscribers read that range themselves.
    `shared` is scratch space for everyone handling this page (resolvers keep one
    loader cache and one execution result per distinct subscription there)."""

    after: int
    upto: int
    rows: list[m.Event] | None
    seqs: frozenset[int] = frozenset()  # the seqs announced (a lost message leaves a hole)
    users: frozenset[int] = frozenset()  # users named by those announcements
    catch_up: bool = False  # announcements may have been lost
    shared: dict = field(default_factory=dict)


@dataclass
class Batch:
    """Every page offered since the subscriber last looked, in order."""

    pages: list[Page] = field(default_factory=list)

    @property
    def seqs(self) -> set[int]:
        return set().union(*(p.seqs for p in self.pages))

    @property
    def users(self) -> set[int]:
        return set().union(*(p.users for p in self.pages))

    @property
    def catch_up(self) -> bool:
        return any(p.catch_up for p in self.pages)


class Matcher(Hashable, Protocol):
    """Which events a subscriber wants (resolvers.live.EventFilter). Hashable: the hub
    groups subscribers that want the same events."""

    def matches(self, event: m.Event) -> bool: ...


class Feed(Protocol):
    """One subscriber's bounded buffer of pages."""

    # While parked: every seq <= last has been passed. The hub may move it on by
    # writing matching events of a page straight to the subscriber's socket.
    last: int

    def park(self, last: int, matcher: Matcher) -> None:
        """The subscriber has passed every seq <= last and waits for the next page."""

    async def next(self) -> Batch:
        """Wait for at least one page, then take all that are pending; SlowConsumer
        once the subscriber was dropped for falling behind."""


OnOverflow = Callable[[], None]


class Subscribe(Protocol):
    """`async with subscribe(org_id, on_overflow) as feed`: once entered, the
    organization's channel is listened to. `on_overflow` is called (at most once,
    synchronously) when the subscriber falls too far behind; None for no callback."""

    def __call__(self, org_id: int, on_overflow: OnOverflow | None = None) -> AbstractAsyncContextManager[Feed]: ...
