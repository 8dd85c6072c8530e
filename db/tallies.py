"""Cards and amounts per stage and currency, kept as they change.

Triggers on `opportunities` (migration 0024) append a row to `stage_tallies` for every card
that comes, goes or changes stage, currency or amount: +1 card and its amount where it is
now, -1 and the amount where it was. Summing a stage's rows gives its cards and amounts
without reading them; appending, not updating one row per stage, keeps concurrent writers
from waiting on each other. `fold` replaces each stage and currency's rows by their sum; the
alerts round runs it, so a read adds up at most the rows of one interval's changes."""
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import delete, insert, select

from db import models as m


async def fold(db) -> int:
    """One row per stage and currency (none where nothing is left, or for a deleted stage);
    returns the rows read.

    One transaction deletes the rows it adds up and inserts their sums, so readers see either
    the rows or their sums. On PostgreSQL rows appended meanwhile by uncommitted writers are
    not visible to the delete and stay for the next fold."""
    t = m.StageTally
    async with db.write() as session:
        folded = (await session.execute(delete(t).returning(t.stage_id, t.currency, t.cards, t.amount, t.with_amount))).all()
        sums: dict[tuple[int, str], list] = defaultdict(lambda: [0, Decimal(0), 0])
        for stage_id, currency, cards, amount, with_amount in folded:
            total = sums[(stage_id, currency)]
            total[0] += cards
            total[1] += Decimal(amount)
            total[2] += with_amount
        stages = set((await session.execute(select(m.Stage.id).where(m.Stage.id.in_({s for s, _ in sums})))).scalars()) if sums else set()
        kept = [{"stage_id": s, "currency": c, "cards": n, "amount": a, "with_amount": w}
                for (s, c), (n, a, w) in sums.items() if s in stages and (n or a or w)]  # a deleted stage's rows go
        if kept:
            await session.execute(insert(t), kept)
    return len(folded)
