from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "simrenew.privacy"
    label = "privacy"
    verbose_name = "Customers' data rights"
