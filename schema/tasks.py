"""Tasks."""
import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
from resolvers import tasks as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.people import Department, User
from schema.relay import Connection, Node, global_id

if TYPE_CHECKING:
    from schema.opportunities import Opportunity


@strawberry.enum
class TaskStatus(str, Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


@strawberry.type
class Task(Node):
    id: strawberry.ID = global_id("Task")
    title: str
    description: str | None
    status: TaskStatus
    due_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    version: int

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")]:
        return await info.context.loaders.opportunity.load(self.opportunity_id)

    @strawberry.field
    async def assignee(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.assignee_id) if self.assignee_id else None

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.department_id)

    @strawberry.field
    def overdue(self, info: strawberry.Info) -> bool:
        return rules.is_overdue(self, info.context.clock())

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Task)


@strawberry.input
class CreateTaskInput:
    opportunity_id: strawberry.ID
    title: str
    description: str | None = strawberry.UNSET
    assignee_id: strawberry.ID | None = strawberry.UNSET
    department_key: str | None = strawberry.UNSET
    due_at: datetime.datetime | None = strawberry.UNSET


@strawberry.input
class UpdateTaskInput:
    id: strawberry.ID
    version: int
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: TaskStatus | None = strawberry.UNSET
    assignee_id: strawberry.ID | None = strawberry.UNSET
    due_at: datetime.datetime | None = strawberry.UNSET


@strawberry.type
class TaskPayload:
    task: Task | None
    user_errors: list[UserError]


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN)
    async def tasks(
        self, info: strawberry.Info, assignee_id: strawberry.ID | None = None, department_key: str | None = None,
        status: list[TaskStatus] | None = None, first: int | None = None, after: str | None = None,
    ) -> Connection[Task]:
        statuses = [s.value for s in status] if status else None
        return Connection(page=await rules.list_tasks(info.context, assignee_id, department_key, statuses, first, after))


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def create_task(self, info: strawberry.Info, input: CreateTaskInput) -> TaskPayload:
        task, errors = await rules.create_task(info.context, to_data(input))
        return TaskPayload(task=task, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def update_task(self, info: strawberry.Info, input: UpdateTaskInput) -> TaskPayload:
        task, errors = await rules.update_task(info.context, to_data(input))
        return TaskPayload(task=task, user_errors=errors)
