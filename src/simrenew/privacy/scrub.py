"""Replacing a person's values wherever they were copied (message payloads, audit pictures,
free-text notes): every occurrence, in any case, inside text and inside JSON, keys included."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import models

# Shorter values (a two-letter name) would match inside unrelated words.
MIN_LENGTH = 3
_TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


class Scrubber:
    def __init__(self, values: Iterable[str], replacement: str) -> None:
        wanted = sorted({v.strip() for v in values if v and len(v.strip()) >= MIN_LENGTH}, key=len, reverse=True)
        self.values = tuple(wanted)
        self.replacement = replacement
        self._pattern = re.compile("|".join(re.escape(v) for v in wanted), re.IGNORECASE) if wanted else None

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(self.replacement, value)

    def found_in(self, value: str) -> bool:
        return self._pattern is not None and bool(self._pattern.search(value))

    def data(self, value: Any) -> Any:
        """A JSON value with every string (and key) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(item) for item in value]
        if isinstance(value, dict):
            return {self.text(str(key)): self.data(item) for key, item in value.items()}
        return value

    def changes(self, row: models.Model, *, skip: Iterable[str] = ()) -> dict[str, Any]:
        """The scrubbed value of each text or JSON column of `row` that held a personal value."""
        changed: dict[str, Any] = {}
        skipped = set(skip)
        for field in row._meta.concrete_fields:
            if field.name in skipped or field.primary_key or not isinstance(field, _TEXT_FIELDS):
                continue
            value = getattr(row, field.attname)
            if value is None:
                continue
            new = self.data(value) if isinstance(field, models.JSONField) else self.text(str(value))
            if new != value:
                changed[field.attname] = new
        return changed

    def rows(self, queryset: models.QuerySet[Any], *, skip: Iterable[str] = ()) -> int:
        """Scrub every row of `queryset` in place (a plain UPDATE per changed row, no save hooks)."""
        done = 0
        for row in queryset.iterator():
            changed = self.changes(row, skip=skip)
            if changed:
                type(row)._base_manager.filter(pk=row.pk).update(**changed)
                done += 1
        return done
