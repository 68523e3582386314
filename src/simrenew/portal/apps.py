from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "simrenew.portal"
    label = "portal"
    verbose_name = "Customer portal"
