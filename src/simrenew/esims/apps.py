from django.apps import AppConfig


class EsimsConfig(AppConfig):
    name = "simrenew.esims"
    label = "esims"
    verbose_name = "eSIMs"
