from django.apps import AppConfig
from django.core import checks


class SubscriptionsConfig(AppConfig):
    name = "simrenew.subscriptions"
    label = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        from simrenew.subscriptions import esim_holds, notification_facts, renewals, topups

        renewals.register()
        topups.register()
        esim_holds.register()
        notification_facts.register()
        # Provisioning registers its listener in its own ready(); the check runs once all are.
        from simrenew.subscriptions.service_changes import listener_registered

        checks.register(listener_registered)
