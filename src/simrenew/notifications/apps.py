from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "simrenew.notifications"
    label = "notifications"
    verbose_name = "Notifications"
