"""Creating organizations (with the default departments and pipeline) and users."""
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models as m
from resolvers.approval_rules import default_contract_rule
from resolvers.auth import hash_password

DEFAULT_DEPARTMENTS = [
    ("sales", "Sales"),
    ("marketing", "Marketing"),
    ("product", "Product"),
    ("legal", "Legal"),
    ("finance", "Finance"),
]

# Stages as data: (key, name, kind, required fields, required approvals, stale hours, auto approval)
DEFAULT_STAGES = [
    ("lead", "Lead", "OPEN", [], [], 72, None),
    ("qualified", "Qualified", "OPEN", [], [], 120, None),
    ("proposal", "Proposal", "OPEN", ["amount", "expectedCloseDate"], [], 120, None),
    ("negotiation", "Negotiation", "OPEN", [], [], 168, None),
    ("contract", "Contract", "OPEN", [], ["contract"], 168, default_contract_rule),  # called per organization
    ("won", "Won", "WON", ["amount"], [], None, None),
    ("lost", "Lost", "LOST", ["lostReason"], [], None, None),
]

# Customer silence (resolvers/alerts.py): from the proposal on, an open card without a follow-up
# for 48 hours alerts its owner; earlier stages never (migration 0017 sets the same on existing stages).
DEFAULT_SILENCE_HOURS = {"proposal": 48, "negotiation": 48, "contract": 48}

# Attachment kinds a card needs to enter a stage of the default pipeline (resolvers/attachments.py).
DEFAULT_REQUIRED_FILES = {"proposal": ["quote"]}

# Stage owners and deliverables (resolvers/stage_work.py): stage key -> (owner,
# deliverables, whether entering needs the previous stage's deliverables ticked).
DEFAULT_STAGE_WORK = {
    "proposal": ({"departmentKey": "sales", "role": None, "userId": None, "autoAccept": False},
                 [{"key": "quote", "title": "报价单", "departmentKey": "sales", "field": "amount"}], False),
    "contract": ({"departmentKey": "legal", "role": None, "userId": None, "autoAccept": False},
                 [{"key": "legal-review", "title": "合同审核意见", "departmentKey": "legal", "field": None},
                  {"key": "payment-terms", "title": "付款条款确认", "departmentKey": "finance", "field": None}], False),
    "won": (None, [], True),
}

# The default departments', pipeline's and stages' names in another language than English
# (keys stay the same in every language): a Chinese organization starts with a Chinese board.
DEFAULT_NAMES = {
    "zh-CN": {
        "departments": {"sales": "销售", "marketing": "市场", "product": "产品", "legal": "法务", "finance": "财务"},
        "stages": {"lead": "线索", "qualified": "已确认", "proposal": "方案报价", "negotiation": "商务谈判",
                   "contract": "合同", "won": "赢单", "lost": "输单"},
        "pipeline": "销售管道",
    },
}

ROLES = ("ADMIN", "MANAGER", "MEMBER", "VIEWER")
# The minimal pipeline (first-run setup without the default pipeline): a first stage and the two ends.
MINIMAL_STAGES = ("lead", "won", "lost")


async def create_organization(
    session: AsyncSession, name: str, *, minimal_pipeline: bool = False, locale: str = "en",
) -> m.Organization:
    """An organization with the default departments and the default pipeline (or, with
    `minimal_pipeline`, only its stages lead, won and lost, without owners or deliverables),
    named in `locale`'s language (DEFAULT_NAMES; English otherwise)."""
    names = DEFAULT_NAMES.get(locale, {})
    org = m.Organization(name=name, event_seq=0, locale=locale)
    session.add(org)
    await session.flush()
    for key, dept_name in DEFAULT_DEPARTMENTS:
        session.add(m.Department(org_id=org.id, key=key, name=names.get("departments", {}).get(key, dept_name)))
    pipeline = m.Pipeline(org_id=org.id, name=names.get("pipeline", "Sales pipeline"), position=0)
    session.add(pipeline)
    await session.flush()
    stages = [s for s in DEFAULT_STAGES if s[0] in MINIMAL_STAGES] if minimal_pipeline else DEFAULT_STAGES
    for position, (key, stage_name, kind, fields, approvals, stale, auto) in enumerate(stages):
        owner, deliverables, after_previous = (None, [], False) if minimal_pipeline else DEFAULT_STAGE_WORK.get(key, (None, [], False))
        auto = auto() if callable(auto) else auto
        session.add(
            m.Stage(
                pipeline_id=pipeline.id, key=key, name=names.get("stages", {}).get(key, stage_name), position=position, kind=kind,
                required_fields=fields, required_approvals=approvals, stale_after_hours=stale,
                required_files=[] if minimal_pipeline else list(DEFAULT_REQUIRED_FILES.get(key, [])),
                silence_after_hours=DEFAULT_SILENCE_HOURS.get(key),
                auto_approval=auto, owner=owner, deliverables=deliverables, require_previous_deliverables=after_previous,
            )
        )
    await session.flush()
    return org


def handle_for(email: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", email.split("@")[0].lower().replace(".", "_").replace("-", "_")) or "user"


async def create_user(
    session: AsyncSession, org: m.Organization, *, email: str, name: str, department_key: str,
    role: str = "MEMBER", password: str | None = None, handle: str | None = None,
) -> m.User:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    department = (
        await session.execute(
            select(m.Department).where(m.Department.org_id == org.id, m.Department.key == department_key)
        )
    ).scalar_one_or_none()
    if department is None:
        raise ValueError(f"no department {department_key!r} in {org.name}")
    user = m.User(
        org_id=org.id, department_id=department.id, name=name, email=email.lower(),
        handle=handle or handle_for(email), role=role,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    return user
