"""Database invariants the fuzz, concurrency and fault tests check after the fact.

- every organization's event seqs are 1..N without gap or duplicate, and N equals
  organizations.event_seq;
- versions are >= 1;
- no orphan rows (a child whose parent is missing) and no cross-tenant rows (a child
  whose parent belongs to another organization).
"""
from sqlalchemy import text

# (child table, child column, parent table): parent must exist and share the org.
REFERENCES = [
    ("opportunities", "stage_id", "stages", False),
    ("opportunities", "owner_id", "users", True),
    ("opportunities", "department_id", "departments", True),
    ("opportunities", "account_id", "accounts", True),
    ("opportunities", "pipeline_id", "pipelines", True),
    ("tasks", "opportunity_id", "opportunities", True),
    ("tasks", "assignee_id", "users", True),
    ("tasks", "department_id", "departments", True),
    ("comments", "opportunity_id", "opportunities", True),
    ("comments", "task_id", "tasks", True),
    ("comments", "author_id", "users", True),
    ("handoffs", "opportunity_id", "opportunities", True),
    ("handoffs", "to_department_id", "departments", True),
    ("handoffs", "from_department_id", "departments", True),
    ("approvals", "opportunity_id", "opportunities", True),
    ("approval_steps", "approval_id", "approvals", False),
    ("notifications", "user_id", "users", True),
    ("notifications", "opportunity_id", "opportunities", True),
    ("events", "opportunity_id", "opportunities", True),
    ("events", "task_id", "tasks", True),
    ("events", "comment_id", "comments", True),
    ("events", "handoff_id", "handoffs", True),
    ("events", "approval_id", "approvals", True),
    ("events", "actor_id", "users", True),
]


async def check_invariants(db, org_ids: list[int] | None = None) -> dict:
    """Raise AssertionError listing every broken invariant; return counts checked."""
    problems: list[str] = []
    where = ""
    params = {}
    if org_ids is not None:
        where = " WHERE o.id IN (" + ",".join(str(int(i)) for i in org_ids) + ")"
    async with db.read() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT o.id, o.event_seq, COUNT(e.seq), COUNT(DISTINCT e.seq), MIN(e.seq), MAX(e.seq) "
                    "FROM organizations o LEFT JOIN events e ON e.org_id = o.id" + where + " GROUP BY o.id, o.event_seq"
                ),
                params,
            )
        ).all()
        events = 0
        for org_id, counter, n, distinct, lo, hi in rows:
            events += n
            if n != distinct:
                problems.append(f"org {org_id}: duplicate seqs")
            if n and (lo != 1 or hi != n):
                problems.append(f"org {org_id}: seqs {lo}..{hi} for {n} events (gap)")
            if (hi or 0) != counter:
                problems.append(f"org {org_id}: event_seq counter {counter} != last seq {hi}")
        org_filter = "" if org_ids is None else " AND c.org_id IN (" + ",".join(str(int(i)) for i in org_ids) + ")"
        for table in ("opportunities", "tasks"):
            bad = (await s.execute(text(f"SELECT COUNT(*) FROM {table} c WHERE c.version < 1{org_filter}"))).scalar()
            if bad:
                problems.append(f"{bad} {table} with version < 1")
        for child, column, parent, same_org in REFERENCES:
            scoped = org_filter if child != "approval_steps" else ""
            orphans = (
                await s.execute(text(
                    f"SELECT COUNT(*) FROM {child} c LEFT JOIN {parent} p ON p.id = c.{column} "
                    f"WHERE c.{column} IS NOT NULL AND p.id IS NULL{scoped}"
                ))
            ).scalar()
            if orphans:
                problems.append(f"{orphans} {child}.{column} point at a missing {parent} row")
            if same_org:
                foreign = (
                    await s.execute(text(
                        f"SELECT COUNT(*) FROM {child} c JOIN {parent} p ON p.id = c.{column} "
                        f"WHERE p.org_id <> c.org_id{scoped}"
                    ))
                ).scalar()
                if foreign:
                    problems.append(f"{foreign} {child}.{column} point into another organization")
    assert not problems, "database invariants broken:\n" + "\n".join(problems)
    return {"organizations": len(rows), "events": events}
