from django.apps import AppConfig


class KitConfig(AppConfig):
    name = "simrenew.kit"
    label = "kit"
    verbose_name = "Shared kit"
