from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "simrenew.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"
