from django.apps import AppConfig
from django.core import checks


class NotificationsConfig(AppConfig):
    name = "simrenew.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from simrenew.notifications import customer_events, webhook_events
        from simrenew.notifications.facts import lookups_registered

        customer_events.register()
        webhook_events.register()
        checks.register(lookups_registered)
