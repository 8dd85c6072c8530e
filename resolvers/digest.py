"""The daily digest: at the time a user chose (their zone's wall clock), one message on
their channels listing what waits on them: open approval steps they decide, their
stale deals, their overdue tasks.

Run by the alerts job with its clock. Each digest is sent once per user and local day:
it is an alert condition (`digest:user:<id>`, fingerprint the local date), so the
alerts table's unique (subject, fingerprint) row keeps two processes, or a restart,
from sending it twice; its deliveries are written in the same transaction, so
none is lost either. A day with nothing waiting sends nothing."""
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db import models as m
from resolvers.channel_formats import message
from resolvers.channel_queue import direct, parse_hhmm, routed, user_locale, zone
from resolvers.i18n import DEFAULT, msg, translate
from resolvers.visibility import load_access, visible_among

log = logging.getLogger("baton.digest")
ACTIVE_TASKS = ("OPEN", "IN_PROGRESS")
MAX_LINES = 20  # per section; the count says how many there are


def due(pref: m.NotificationPreference, now: datetime) -> str | None:
    """The local date whose digest is due at `now` (its time has come today), or None."""
    at = parse_hhmm(pref.digest_time)
    if at is None:
        return None
    local = now.astimezone(zone(pref.time_zone))
    return local.date().isoformat() if local.time().replace(tzinfo=None) >= at else None


async def contents(session, user: m.User, now: datetime, locale: str = DEFAULT) -> list[tuple[str, list[str]]]:
    """(section, lines) of what waits on `user`, cards they may see only, in `locale`."""
    waiting = (await session.execute(
        select(m.Approval.kind, m.Opportunity.title, m.Opportunity.id)
        .select_from(m.ApprovalApprover)
        .join(m.ApprovalStep, m.ApprovalStep.id == m.ApprovalApprover.step_id)
        .join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
        .join(m.Opportunity, m.Opportunity.id == m.Approval.opportunity_id)
        .where(m.ApprovalApprover.user_id == user.id, m.ApprovalApprover.status == "PENDING",
               m.ApprovalStep.status == "PENDING", m.ApprovalStep.opened_at.is_not(None), m.Approval.status == "PENDING")
        .order_by(m.ApprovalStep.opened_at)
    )).all()
    stale = [
        (title, stage, opp_id) for title, stage, opp_id, last, hours in (await session.execute(
            select(m.Opportunity.title, m.Stage.name, m.Opportunity.id, m.Opportunity.last_activity_at, m.Stage.stale_after_hours)
            .join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
            .where(m.Opportunity.owner_id == user.id, m.Stage.kind == "OPEN", m.Stage.stale_after_hours.is_not(None))
            .order_by(m.Opportunity.last_activity_at)
        )).all() if last < now - timedelta(hours=hours)
    ]
    overdue = (await session.execute(
        select(m.Task.title, m.Opportunity.title, m.Opportunity.id)
        .join(m.Opportunity, m.Opportunity.id == m.Task.opportunity_id)
        .where(m.Task.assignee_id == user.id, m.Task.status.in_(ACTIVE_TASKS), m.Task.due_at < now)
        .order_by(m.Task.due_at)
    )).all()
    access = await load_access(session, user)
    visible = await visible_among(session, access, user.org_id, {row[-1] for row in [*waiting, *stale, *overdue]})
    sections = [
        (msg("Approvals waiting on you"),
         [translate(locale, "{approval} on {opp}", approval=kind, opp=title) for kind, title, opp in waiting if opp in visible]),
        (msg("Your stale deals"),
         [translate(locale, "{opp} ({stage})", opp=title, stage=stage) for title, stage, opp in stale if opp in visible]),
        (msg("Your overdue tasks"),
         [translate(locale, "“{task}” on {opp}", task=task, opp=title) for task, title, opp in overdue if opp in visible]),
    ]
    return [(name.render(locale), lines) for name, lines in sections if lines]


def digest_message(sections: list[tuple[str, list[str]]], locale: str = DEFAULT) -> dict:
    total = sum(len(lines) for _, lines in sections)
    details = []
    for name, lines in sections:
        details.append(translate(locale, "{section} ({count}):", section=name, count=len(lines)))
        details += [f"· {line}" for line in lines[:MAX_LINES]]
    headline = msg("{count} thing waits on you today.") if total == 1 else msg("{count} things wait on you today.")
    return message("digest", translate(locale, headline.template, count=total), details, "/#inbox", locale)


async def send_digests(db, now: datetime, *, org_id: int | None = None) -> int:
    """Queue every digest due at `now`; returns how many deliveries were queued."""
    async with db.read() as session:
        stmt = select(m.NotificationPreference).where(m.NotificationPreference.digest_time.is_not(None))
        if org_id is not None:
            stmt = stmt.where(m.NotificationPreference.org_id == org_id)
        prefs = list((await session.execute(stmt)).scalars())
    sent = 0
    for pref in prefs:
        day = due(pref, now)
        if day is None:
            continue
        subject = f"digest:user:{pref.user_id}"
        try:
            async with db.write() as session:
                if await session.scalar(select(m.Alert.id).where(
                        m.Alert.org_id == pref.org_id, m.Alert.subject == subject, m.Alert.fingerprint == day)):
                    continue
                session.add(m.Alert(org_id=pref.org_id, subject=subject, fingerprint=day, raised_at=now))
                await session.flush()  # the unique row first: a concurrent sender fails here
                user = await session.get(m.User, pref.user_id)
                locale = user_locale(user, await session.get(m.Organization, user.org_id))
                sections = await contents(session, user, now, locale)
                if not sections:
                    continue
                channels = list((await session.execute(select(m.NotificationChannel).where(
                    m.NotificationChannel.user_id == user.id, m.NotificationChannel.enabled.is_(True),
                ).order_by(m.NotificationChannel.id))).scalars())
                payload = digest_message(sections, locale)
                for channel in routed(channels, pref, "digest"):
                    session.add(direct(channel, "digest", payload, now, now, user_id=user.id))
                    sent += 1
        except IntegrityError:
            log.info("digest %s for %s already sent by another process", subject, day)
    return sent
