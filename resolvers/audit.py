"""The configuration log: every change to people, departments, tokens, webhooks and
channels is a CONFIGURATION_CHANGED event with its actor and before/after values.
Pipeline, access-rule and money changes keep their own event types (boards act on
them); `configurationLog` reads all four. Secrets (passwords, token values) are never
written here: a password change is recorded as having happened, without values."""
from resolvers.uow import UnitOfWork

CONFIGURATION_CHANGED = "CONFIGURATION_CHANGED"
# Event types an administrator's configuration log shows; only admins read CONFIGURATION_CHANGED.
CONFIGURATION_TYPES = ("PIPELINE_UPDATED", "ACCESS_RULES_UPDATED", "MONEY_SETTINGS_UPDATED", CONFIGURATION_CHANGED)


async def record_change(
    uow: UnitOfWork, subject: str, target: str | None, action: str,
    before: dict | None = None, after: dict | None = None, *, actor_id=...,
) -> None:
    """Append one CONFIGURATION_CHANGED event. `subject` names what changed ("user",
    "invite", "department", "apiToken", "webhook", "channel", "organization"), `target`
    its global id, `action` what happened ("created", "updated", "deactivated", ...);
    `before`/`after` hold API field names and only the fields that differ are written."""
    before, after = before or {}, after or {}
    changes = {"subject": [None, subject], "target": [None, target], "action": [None, action]}
    for field in dict.fromkeys([*before, *after]):
        old, new = before.get(field), after.get(field)
        if old != new:
            changes[field] = [old, new]
    await uow.append_event(CONFIGURATION_CHANGED, changes=changes, actor_id=actor_id)
