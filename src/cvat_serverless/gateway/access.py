"""CVAT 2.73's sandbox rules for tasks and jobs (``engine/rules/tasks.rego``, ``jobs.rego``), no organizations.

- An admin may do anything; everyone else sees a task when they own it or are its assignee, and a
  job when they can see its task or are the job's assignee. Lists are filtered the same way.
- Reading and changing annotations follow the same staff rules; deleting a task is for its owner;
  creating a task needs the ``user`` role (a ``worker`` cannot); creating or deleting a
  ground-truth job needs the ``user`` role and task staff.
- A refusal is a 403, never a 404: CVAT looks the object up before it checks the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cvat_serverless.gateway.errors import Forbidden
from cvat_serverless.gateway.users import User


def is_task_staff(user: User, task: Mapping[str, Any]) -> bool:
    return user.is_admin or user.id in (task.get("owner_id"), task.get("assignee_id"))


def is_job_staff(user: User, task: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    return is_task_staff(user, task) or user.id == job.get("assignee_id")


def require(allowed: bool) -> None:
    if not allowed:
        raise Forbidden()


def can_create_task(user: User) -> bool:
    return user.role in ("admin", "user")


def can_delete_task(user: User, task: Mapping[str, Any]) -> bool:
    return user.is_admin or user.id == task.get("owner_id")


def can_manage_ground_truth(user: User, task: Mapping[str, Any]) -> bool:
    return user.role in ("admin", "user") and is_task_staff(user, task)
