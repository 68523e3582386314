from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "simrenew.console"
    label = "console"
    verbose_name = "Operator console"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from simrenew.console.roles import ensure_roles_after_migrate

        post_migrate.connect(ensure_roles_after_migrate, sender=self)
