"""Cursor pagination for list endpoints: `?limit=&starting_after=<id>`.

Every list answers `{"items": [...], "has_more": bool, "next_starting_after": id | null}`;
pass `next_starting_after` back as `starting_after` for the next page. Ordering is
by id, so pages stay stable while rows are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    has_more: bool
    next_starting_after: int | None


def paginate(queryset: QuerySet[M], *, limit: int, starting_after: int | None) -> Page[M]:
    if starting_after is not None:
        queryset = queryset.filter(pk__gt=starting_after)
    rows = list(queryset.order_by("pk")[: limit + 1])
    has_more = len(rows) > limit
    items = rows[:limit]
    return Page(items=items, has_more=has_more, next_starting_after=items[-1].pk if has_more and items else None)
