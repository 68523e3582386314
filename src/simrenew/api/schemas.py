"""Shapes shared by every router."""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict, Field

from simrenew.api.pagination import DEFAULT_LIMIT, MAX_LIMIT

# Ids are 64-bit; a larger number is refused as invalid rather than reaching the database.
ID_MAX = 2**63 - 1


class InputSchema(Schema):
    """Request bodies: an unknown field is an error, not silently ignored (typos would be lost)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many items, 1 to 100.")
    starting_after: int | None = Field(
        None,
        ge=0,
        le=ID_MAX,
        description="The `next_starting_after` of the previous page; omit for the first.",
    )
