from django.apps import AppConfig
from django.core import checks


class WebhooksConfig(AppConfig):
    name = "simrenew.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Another app fills the registry in its own ready(); the check runs once all are.
        from simrenew.webhooks.services import registries_filled

        checks.register(registries_filled)
