from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "simrenew.usage"
    label = "usage"
    verbose_name = "Usage"
