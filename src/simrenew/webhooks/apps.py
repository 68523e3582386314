from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "simrenew.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
