from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkerConfig(AppConfig):
    """An app only for its table of heartbeats (worker.models): the console and /readyz read them."""

    name = "simrenew.worker"
    label = "worker"
    verbose_name = _("Worker")
