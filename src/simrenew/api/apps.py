from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "simrenew.api"
    label = "api"
    verbose_name = "Partner API"
