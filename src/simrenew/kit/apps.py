from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_table(sender: AppConfig, using: str, verbosity: int = 1, **kwargs: Any) -> None:
    """`simrenew migrate` also creates the table of a db:// cache (SIMRENEW_CACHE_URL), as
    Django leaves that to a separate command; nothing when it exists or the cache is not db://."""
    call_command("createcachetable", database=using, verbosity=verbosity)


class KitConfig(AppConfig):
    name = "simrenew.kit"
    label = "kit"
    verbose_name = "Shared kit"

    def ready(self) -> None:
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="simrenew.kit.create_cache_table")
