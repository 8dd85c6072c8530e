"""Baton's tables. Plain SQLAlchemy: no GraphQL and no rules live here."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import BigId, JSONType, UTCDateTime, utcnow


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: JSONType, list: JSONType}


def fk(target: str, **kw):
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), **kw)


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Last event seq handed out; updated in each writing transaction, its row
    # lock serializes the organization's writers so seqs commit in order.
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The highest seq retention removed (db/retention.py): a cursor below it has missed events.
    events_removed_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Totals are converted into this currency; new cards default to it (resolvers/money.py).
    base_currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    # Language and time zone of the organization's texts and dates; a user's own `locale` wins.
    locale: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
    time_zone: Mapped[str] = mapped_column(String(60), default="UTC", server_default="UTC")


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("org_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    # An archived department keeps its history but takes no new members, cards or handoffs.
    archived_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("org_id", "handle"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    department_id: Mapped[int] = fk("departments.id")
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    handle: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(10))  # ADMIN, MANAGER, MEMBER, VIEWER
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "en" or "zh-CN"; null: the browser's Accept-Language, then the organization's locale.
    locale: Mapped[str | None] = mapped_column(String(10))
    # A deactivated user cannot sign in and their tokens stop working; their cards and history stay.
    deactivated_at: Mapped[datetime | None]


class OneTimeLink(Base):
    """A single-use, expiring link: the first-run setup (no organization yet), an
    invitation, or a password reset. Only the token's hash is kept."""

    __tablename__ = "one_time_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = fk("organizations.id", index=True)
    kind: Mapped[str] = mapped_column(String(10))  # SETUP | INVITE | RESET
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    department_id: Mapped[int | None] = fk("departments.id")
    role: Mapped[str | None] = mapped_column(String(10))
    user_id: Mapped[int | None] = fk("users.id")  # RESET: whose password
    created_by_id: Mapped[int | None] = fk("users.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token: a login session or a long-lived token for a tool. Only its hash is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    user_id: Mapped[int] = fk("users.id", index=True)
    kind: Mapped[str] = mapped_column(String(10))  # session | api
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(10), default="write")  # read | write
    department_id: Mapped[int | None] = fk("departments.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Pipeline(Base):
    __tablename__ = "pipelines"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = fk("pipelines.id", index=True)
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10), default="OPEN")  # OPEN, WON, LOST
    required_fields: Mapped[list] = mapped_column(default=list)
    required_approvals: Mapped[list] = mapped_column(default=list)
    # Attachment kinds a card needs to enter (resolvers/attachments.py), e.g. ["quote"].
    required_files: Mapped[list] = mapped_column(default=list)
    stale_after_hours: Mapped[int | None]
    # Customer silence (resolvers/alerts.py): an open card without a follow-up for this long; null: never.
    silence_after_hours: Mapped[int | None]
    # The shared pool (resolvers/pool.py): an open card without a follow-up for this many days returns to it; null: never.
    pool_after_days: Mapped[int | None]
    # The approval a card asking to enter this stage gets (resolvers/approval_rules.py).
    auto_approval: Mapped[dict | None]
    # Who owns the stage (resolvers/stage_work.py): {"departmentKey", "role", "userId",
    # "autoAccept"}; entering it hands the baton to that department.
    owner: Mapped[dict | None]
    # What must be delivered in it: [{"key", "title", "departmentKey", "field"}].
    deliverables: Mapped[list] = mapped_column(default=list)
    # Entering needs the deliverables of the stage before it complete.
    require_previous_deliverables: Mapped[bool] = mapped_column(default=False)
    # An archived stage leaves the board (its cards were moved out when it was archived).
    archived_at: Mapped[datetime | None]


class DeliverableCheck(Base):
    """A ticked deliverable of a stage on a card (unticking deletes the row)."""

    __tablename__ = "deliverable_checks"
    __table_args__ = (UniqueConstraint("opportunity_id", "stage_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = fk("opportunities.id", index=True)
    stage_id: Mapped[int] = fk("stages.id")
    key: Mapped[str] = mapped_column(String(40))
    done_by_id: Mapped[int | None] = fk("users.id")
    done_at: Mapped[datetime] = mapped_column(default=utcnow)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("org_id", "normalized_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    name: Mapped[str] = mapped_column(String(200))
    normalized_name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(300))
    tags: Mapped[list] = mapped_column(default=list, server_default="[]")
    # The customer's account manager; the account stays when the user goes.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Opportunity(Base):
    __tablename__ = "opportunities"
    __table_args__ = (
        UniqueConstraint("org_id", "created_by_id", "client_mutation_id"),
        Index("ix_opportunities_board", "org_id", "stage_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    pipeline_id: Mapped[int] = fk("pipelines.id")
    stage_id: Mapped[int] = fk("stages.id")
    account_id: Mapped[int] = fk("accounts.id", index=True)
    owner_id: Mapped[int] = fk("users.id", index=True)
    department_id: Mapped[int] = fk("departments.id")
    created_by_id: Mapped[int] = fk("users.id")
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    probability: Mapped[int | None]
    expected_close_date: Mapped[date | None]
    priority: Mapped[str] = mapped_column(String(10), default="MEDIUM")
    tags: Mapped[list] = mapped_column(default=list)
    next_step: Mapped[str | None] = mapped_column(String(500))
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str | None] = mapped_column(String(100))  # where the lead came from (线索来源): 展会, 官网, ...
    client_mutation_id: Mapped[str | None] = mapped_column(String(100))
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The latest follow-up's time and the next one planned (resolvers/records.py).
    last_contact_at: Mapped[datetime | None]
    last_contact_kind: Mapped[str | None] = mapped_column(String(10))  # the latest follow-up's kind
    next_follow_up_at: Mapped[datetime | None]
    # The shared pool (公海, resolvers/pool.py): set while the card waits there, held by the
    # pool department's manager; assigned_at is when a rule or a claim gave it its owner.
    pooled_at: Mapped[datetime | None]
    pool_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None]
    # The owner's forecast call (resolvers/forecast.py): BEST_CASE or COMMIT; null reads PIPELINE.
    forecast_category: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)


class StageTally(Base):
    """Cards and amounts per stage and currency as rows to add up: triggers on `opportunities`
    append +1/-1 rows as cards come, go and change stage, currency or amount, and the alerts
    round folds them (db/tallies.py, migration 0024)."""

    __tablename__ = "stage_tallies"
    __table_args__ = (Index("ix_stage_tallies_stage", "stage_id", "currency"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stage_id: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    cards: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Numeric(24, 2))
    with_amount: Mapped[int]


class Target(Base):
    """A goal for a month ("2026-11") or quarter ("2026-Q4") of an owner, a department or
    the organization (resolvers/targets.py); attainment is computed from the event log."""

    __tablename__ = "targets"
    # One target per subject and period: scope_key is "ORGANIZATION", "DEPARTMENT:<id>" or "OWNER:<id>".
    __table_args__ = (UniqueConstraint("org_id", "scope_key", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    scope: Mapped[str] = mapped_column(String(12))  # OWNER | DEPARTMENT | ORGANIZATION
    scope_key: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int | None] = fk("users.id")
    department_id: Mapped[int | None] = fk("departments.id")
    period: Mapped[str] = mapped_column(String(7))
    won_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))  # in the base currency
    new_qualified_count: Mapped[int | None]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    opportunity_id: Mapped[int] = fk("opportunities.id", index=True)
    department_id: Mapped[int] = fk("departments.id")
    assignee_id: Mapped[int | None] = fk("users.id", index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="OPEN")
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    opportunity_id: Mapped[int] = fk("opportunities.id", index=True)
    task_id: Mapped[int | None] = fk("tasks.id")
    author_id: Mapped[int] = fk("users.id")
    body: Mapped[str] = mapped_column(Text)
    mention_user_ids: Mapped[list] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Handoff(Base):
    __tablename__ = "handoffs"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    opportunity_id: Mapped[int] = fk("opportunities.id", index=True)
    from_department_id: Mapped[int] = fk("departments.id")
    to_department_id: Mapped[int] = fk("departments.id")
    requested_by_id: Mapped[int] = fk("users.id")
    assignee_id: Mapped[int | None] = fk("users.id")
    responded_by_id: Mapped[int | None] = fk("users.id")
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="PENDING")
    response_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    responded_at: Mapped[datetime | None]


class Approval(Base):
    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    opportunity_id: Mapped[int] = fk("opportunities.id", index=True)
    requested_by_id: Mapped[int] = fk("users.id")
    kind: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(10), default="SEQUENTIAL")
    status: Mapped[str] = mapped_column(String(10), default="PENDING")
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    # The stage rule it was opened from (resolvers/approval_rules.py), kept so that a
    # resubmission re-evaluates the same conditions and re-approval opens the same flow.
    rule: Mapped[dict | None]
    locks: Mapped[list] = mapped_column(default=list)  # API names of the card fields it locks
    # The locked fields' values when requested and when approved: the gate accepts
    # an approval only while the card still matches what was approved.
    snapshot_requested: Mapped[dict | None]
    snapshot_approved: Mapped[dict | None]
    urge_count: Mapped[int] = mapped_column(Integer, default=0)


class ApprovalStep(Base):
    __tablename__ = "approval_steps"
    __table_args__ = (UniqueConstraint("approval_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    approval_id: Mapped[int] = fk("approvals.id", index=True)
    position: Mapped[int]
    department_id: Mapped[int] = fk("departments.id")
    status: Mapped[str] = mapped_column(String(10), default="PENDING")
    # Set when the step becomes decidable (at once for PARALLEL, in turn for SEQUENTIAL).
    opened_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = fk("users.id")
    decided_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)
    # Who decides: ALL (会签), ANY (或签) or COUNT (min_approvals of the approvers).
    sign_mode: Mapped[str] = mapped_column(String(5), default="ANY")
    min_approvals: Mapped[int | None]
    role: Mapped[str | None] = mapped_column(String(10))  # approvers are this role of the department
    condition: Mapped[dict | None]  # {"amountAtLeast": "1000000"}: SKIPPED when false
    timeouts: Mapped[dict | None]  # {"remindAfterHours", "escalateAfterHours", "finalAfterHours", "finalAction"}
    urged_at: Mapped[datetime | None]


class ApprovalApprover(Base):
    """A person who decides a step, fixed when the approval is opened (transfers and
    added signers change the list; TRANSFERRED rows stay for the record)."""

    __tablename__ = "approval_approvers"
    __table_args__ = (UniqueConstraint("step_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = fk("approval_steps.id", index=True)
    user_id: Mapped[int] = fk("users.id", index=True)
    status: Mapped[str] = mapped_column(String(12), default="PENDING")  # PENDING APPROVED REJECTED TRANSFERRED
    decided_at: Mapped[datetime | None]


class ApprovalAction(Base):
    """What happened to an approval, step by step: decisions, returns, transfers,
    added signers, urges, resubmissions, timeouts (user_id null for the system)."""

    __tablename__ = "approval_actions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    approval_id: Mapped[int] = fk("approvals.id", index=True)
    step_id: Mapped[int | None] = fk("approval_steps.id")
    user_id: Mapped[int | None] = fk("users.id")
    action: Mapped[str] = mapped_column(String(20))
    target_user_id: Mapped[int | None] = fk("users.id")
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_inbox", "user_id", "read_at", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    user_id: Mapped[int] = fk("users.id")
    kind: Mapped[str] = mapped_column(String(20))  # mention, assigned, handoff, approval, alert
    message: Mapped[str] = mapped_column(String(500))  # English, as written; `template` + `params` re-render it per reader
    template: Mapped[str | None] = mapped_column(String(300))
    params: Mapped[dict | None] = mapped_column()
    opportunity_id: Mapped[int | None] = fk("opportunities.id")
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """The event log: one row per committed change, gapless `seq` per organization."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("org_id", "seq"),
        Index("ix_events_opportunity", "opportunity_id", "seq"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = fk("users.id")
    # Plain ids, not foreign keys: the log outlives what it describes.
    opportunity_id: Mapped[int | None]
    task_id: Mapped[int | None]
    comment_id: Mapped[int | None] = mapped_column(BigInteger)
    handoff_id: Mapped[int | None]
    approval_id: Mapped[int | None]
    department_keys: Mapped[list] = mapped_column(default=list)
    changes: Mapped[dict | None]
    # The card as it was when the event happened ({stage, amount, currency, account, ...}),
    # so receivers need not call back; redacted per receiver (resolvers/visibility.py).
    snapshot: Mapped[dict | None]


class Alert(Base):
    """Conditions already alerted on, so each alerts once until it changes."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("org_id", "subject", "fingerprint"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    subject: Mapped[str] = mapped_column(String(100))  # e.g. "stale:opportunity:12"
    fingerprint: Mapped[str] = mapped_column(String(100))  # changes when the condition changes
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """An outgoing webhook endpoint. `cursor_seq` is the last event seq enqueued for it,
    so deliveries are derived from the event log and a restart loses none."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept in clear: it signs each delivery (HMAC-SHA256). Shown to the admin once.
    secret: Mapped[str] = mapped_column(String(100))
    event_types: Mapped[list] = mapped_column(default=list)  # empty: every type
    department_keys: Mapped[list] = mapped_column(default=list)  # empty: every department
    enabled: Mapped[bool] = mapped_column(default=True)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The user whose access rules decide what the endpoint receives (null: its creator).
    acts_as_id: Mapped[int | None] = fk("users.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: its signed body and the delivery attempts so far."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_log", "webhook_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    webhook_id: Mapped[int] = fk("webhooks.id")
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(40))  # "<org_id>:<seq>", stable across retries
    event_type: Mapped[str] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON posted (signed per attempt)
    status: Mapped[str] = mapped_column(String(10), default="PENDING")  # PENDING, DELIVERED, FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    redelivery_of_id: Mapped[int | None]  # set on a manual redelivery (a fresh delivery of the same event)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExportTicket(Base):
    """A used download link (createExportLink), by its nonce: a second use finds the row,
    whichever process serves it. Rows past their expiry are deleted as new ones come."""

    __tablename__ = "export_tickets"
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AccessRule(Base):
    """What a role (optionally of one department; "" for every department) may see:
    a data scope (OWN, DEPARTMENT, ALL) and fields withheld. Without a rule: ALL, nothing hidden."""

    __tablename__ = "access_rules"
    __table_args__ = (UniqueConstraint("org_id", "role", "department_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    role: Mapped[str] = mapped_column(String(10))
    department_key: Mapped[str] = mapped_column(String(40), default="")
    scope: Mapped[str] = mapped_column(String(12), default="ALL")
    hidden_fields: Mapped[list] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExchangeRate(Base):
    """What one unit of `currency` is worth in `base_currency` from `day` on (admins keep
    them). The base is stored so that changing the organization's base never reuses rates
    that were meant for another one."""

    __tablename__ = "exchange_rates"
    __table_args__ = (UniqueConstraint("org_id", "base_currency", "currency", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    base_currency: Mapped[str] = mapped_column(String(3))
    currency: Mapped[str] = mapped_column(String(3))
    day: Mapped[date]
    rate: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationChannel(Base):
    """Where notifications go besides the inbox: an email address or a group bot (Feishu,
    DingTalk, WeCom). A department's channel hears what its people are notified of; a
    user's own channel hears that user's notifications, routed by their preferences."""

    __tablename__ = "notification_channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    department_id: Mapped[int | None] = fk("departments.id")  # set: a department's channel
    user_id: Mapped[int | None] = fk("users.id", index=True)  # set: a user's own channel
    type: Mapped[str] = mapped_column(String(10))  # EMAIL, FEISHU, DINGTALK, WECOM
    name: Mapped[str] = mapped_column(String(100))
    # An email address, or the bot's webhook URL, which is a credential itself (its token
    # or key): the API shows it masked.
    target: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str | None] = mapped_column(String(200))  # the bot's signing secret (Feishu, DingTalk)
    kinds: Mapped[list] = mapped_column(default=list)  # notification kinds a department channel hears; empty: all
    enabled: Mapped[bool] = mapped_column(default=True)
    failing_since: Mapped[datetime | None]
    # Failed delivery attempts since the last success; reaching the setting disables the channel.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disabled_at: Mapped[datetime | None]  # set when Baton disabled it (not when its owner did)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelCursor(Base):
    """The last event seq whose notifications were turned into channel deliveries, per
    organization: deliveries derive from the log, like webhooks, so a restart loses none."""

    __tablename__ = "channel_cursors"
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ChannelDelivery(Base):
    """One message for one channel and its attempts so far."""

    __tablename__ = "channel_deliveries"
    __table_args__ = (
        Index("ix_channel_deliveries_due", "status", "next_attempt_at"),
        Index("ix_channel_deliveries_log", "channel_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    channel_id: Mapped[int] = fk("notification_channels.id")
    user_id: Mapped[int | None] = fk("users.id")  # whose notification (a user's channel, digests)
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))  # the notification kind, or digest | test
    payload: Mapped[dict] = mapped_column()  # the message (title, text, details, path), already redacted
    status: Mapped[str] = mapped_column(String(10), default="PENDING")  # PENDING, DELIVERED, FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationPreference(Base):
    """A user's routing of notification kinds to their channels, quiet hours and daily digest."""

    __tablename__ = "notification_preferences"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    routes: Mapped[dict] = mapped_column(default=dict)  # kind -> [channel id]; a kind left out: every own channel
    time_zone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai")
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "22:00", local time
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    digest_time: Mapped[str | None] = mapped_column(String(5))  # "09:00", local time; null: no digest
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EscalationRule(Base):
    """When an unanswered alert climbs to the department's managers and then to the admins
    (hours after the alert), per organization and alert kind (and stage, for stale deals)."""

    __tablename__ = "escalation_rules"
    __table_args__ = (UniqueConstraint("org_id", "kind", "stage_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    kind: Mapped[str] = mapped_column(String(20))  # stale | overdue_task | handoff_pending
    stage_key: Mapped[str] = mapped_column(String(40), default="")  # "" for every stage
    alert_after_hours: Mapped[int | None]  # pending handoffs: when the first alert goes out
    managers_after_hours: Mapped[int | None]
    admins_after_hours: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OwnershipConflict(Base):
    """撞单: a customer with open deals of more than one owner, raised when a deal is
    created on it, until a manager or admin resolves it (resolvers/accounts.py)."""

    __tablename__ = "ownership_conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    account_id: Mapped[int] = fk("accounts.id", index=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kept_opportunity_id: Mapped[int | None]  # a plain id: the deal the resolver said keeps the customer
    note: Mapped[str | None] = mapped_column(String(500))


class Contact(Base):
    """A person at a customer (联系人). Phone and email keys (digits only without +86;
    casefolded) are unique within the organization; NULLs do not collide."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("org_id", "phone_key"), UniqueConstraint("org_id", "email_key"))
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    account_id: Mapped[int] = fk("accounts.id", index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_key: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    email_key: Mapped[str | None] = mapped_column(String(254))
    wechat: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OpportunityContact(Base):
    """A contact on a deal, with their role in the decision."""

    __tablename__ = "opportunity_contacts"
    __table_args__ = (UniqueConstraint("opportunity_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = fk("opportunities.id")
    contact_id: Mapped[int] = fk("contacts.id", index=True)
    role: Mapped[str] = mapped_column(String(20))  # DECISION_MAKER | INFLUENCER | USER | GATEKEEPER
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FollowUp(Base):
    """跟进记录: a call, visit, meeting or message on a deal, and the next one planned."""

    __tablename__ = "follow_ups"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    opportunity_id: Mapped[int] = fk("opportunities.id", index=True)
    author_id: Mapped[int] = fk("users.id")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))  # CALL | VISIT | MEETING | WECHAT | EMAIL | OTHER
    at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(1000))
    next_step: Mapped[str | None] = mapped_column(String(500))
    next_follow_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A file on a deal (报价单, 合同, ...); its bytes live in the content-addressed file
    store (db/files.py) under `sha256`, shared by every row with the same content."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = fk("organizations.id")
    opportunity_id: Mapped[int] = fk("opportunities.id", index=True)
    kind: Mapped[str] = mapped_column(String(40))  # quote | contract | signed_contract | other | ...
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssignmentRule(Base):
    """An ordered rule giving new and returned deals an owner (resolvers/assignment.py).
    `rr_cursor` is the round-robin position; the row's lock serializes assignments."""

    __tablename__ = "assignment_rules"
    __table_args__ = (UniqueConstraint("org_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = fk("organizations.id", index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    match: Mapped[dict] = mapped_column(default=dict)  # {regions, industries, tags, amountMin, amountMax}
    target: Mapped[dict] = mapped_column(default=dict)  # {departmentKey} or {userIds}
    strategy: Mapped[str] = mapped_column(String(12))  # ROUND_ROBIN | CAPACITY
    capacity: Mapped[int | None]
    rr_cursor: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
