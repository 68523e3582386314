"""Who is acting in the current unit of work: set once at each edge, read by the audit trail.

Each edge says who acts before it calls any service, and the audit helper
(`kit.audit.record_change`) reads it, so services never take an `actor` argument
just to pass it on:

- every HTTP request (`kit.middleware.ActorMiddleware`): the signed-in user, resolved only
  when something asks (staff → `staff`, anyone else signed in → `customer`, nobody → `system`),
  so a request that changes nothing costs no query;
- the partner API (`api.auth.ApiKeyAuth`): the API key, once it is authenticated;
- every `simrenew` command (`manage.main` and `management.base.ActorCommand`): `cli:<OS user>`;
- the worker (`worker.runner.Worker.run_once`): `worker`.

The actor lives in a ContextVar: each thread, and each asyncio task, has its own.
Outside every edge (a test's factories, a data migration) there is no actor.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import models

LABEL_MAX = 254


class ActorKind(models.TextChoices):
    STAFF = "staff", "staff member"
    API_KEY = "api_key", "API key"
    CLI = "cli", "command line"
    WORKER = "worker", "worker"
    CUSTOMER = "customer", "customer"
    SYSTEM = "system", "system"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    label: str
    user_id: int | None = None
    api_key_id: int | None = None

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        """A signed-in user: staff when they are staff, else a customer; nobody is the system."""
        if user is None or not getattr(user, "is_authenticated", False):
            return SYSTEM
        label = str(getattr(user, "email", "") or user.get_username())[:LABEL_MAX]
        kind = ActorKind.STAFF if getattr(user, "is_staff", False) else ActorKind.CUSTOMER
        return cls(kind, label, user_id=int(user.pk))

    @classmethod
    def for_api_key(cls, *, key_id: int, prefix: str, name: str) -> Actor:
        return cls(ActorKind.API_KEY, f"api_key:{prefix} ({name})"[:LABEL_MAX], api_key_id=key_id)

    @classmethod
    def for_cli(cls) -> Actor:
        return cls(ActorKind.CLI, f"cli:{os_user()}"[:LABEL_MAX])


SYSTEM = Actor(ActorKind.SYSTEM, "system")
WORKER = Actor(ActorKind.WORKER, "worker")


def os_user() -> str:
    """The operating-system account running the command (who typed it, as far as we can tell)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


# An Actor, or how to find it when asked (a request's user is only read if something is audited).
_current: ContextVar[Actor | Callable[[], Actor] | None] = ContextVar("simrenew_actor", default=None)


def current_actor() -> Actor | None:
    """Who acts now, or None outside every edge."""
    value = _current.get()
    if value is None or isinstance(value, Actor):
        return value
    return value()


@contextmanager
def acting_as(actor: Actor | Callable[[], Actor] | None) -> Iterator[None]:
    """Within the block, `actor` acts (a callable is asked only when someone wants to know)."""
    token = _current.set(actor)
    try:
        yield
    finally:
        _current.reset(token)


def act_as(actor: Actor) -> None:
    """Name the actor for the rest of the enclosing `acting_as` block (the request's, which
    `ActorMiddleware` opens): for an edge that cannot wrap what follows, such as API auth."""
    _current.set(actor)
