"""The demo seeds through the resolvers: a contract deal after an approved approval, and board badges."""
from datetime import timedelta

from sqlalchemy import select

from api.demo import seed_demo
from api.settings import Settings
from db import models as m
from db.engine import Database
from db.types import utcnow
from resolvers.alerts import raise_alerts


async def test_demo_has_workflow_badges(tmp_path):
    from db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await upgrade(url)
    db = Database(url)
    try:
        assert await seed_demo(db)
        async with db.read() as s:
            contract = (await s.execute(select(m.Opportunity).join(m.Stage, m.Stage.id == m.Opportunity.stage_id).where(m.Stage.key == "contract"))).scalars().all()
            assert len(contract) == 1
            statuses = {(a.kind, a.status) for a in (await s.execute(select(m.Approval))).scalars()}
            assert ("contract", "APPROVED") in statuses and ("discount", "PENDING") in statuses
            pending = (await s.execute(select(m.Handoff).where(m.Handoff.status == "PENDING"))).scalars().all()
            assert len(pending) == 1
            # The story's alerts are raised and everything it sent is read: a fresh demo starts at
            # inbox zero, and the alerts job a minute later finds nothing new to toast about.
            assert (await s.execute(select(m.Alert))).first() is not None
            assert (await s.execute(select(m.Notification).where(m.Notification.read_at.is_(None)))).first() is None
        assert await raise_alerts(db, utcnow() + timedelta(minutes=2), Settings()) == 0
        assert not await seed_demo(db)
    finally:
        await db.dispose()
