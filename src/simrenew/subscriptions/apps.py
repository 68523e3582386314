from django.apps import AppConfig


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
