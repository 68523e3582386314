from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "simrenew.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from simrenew.provisioning import lines
        from simrenew.subscriptions.service_changes import register_service_listener

        register_service_listener(lines.on_service_changes)
