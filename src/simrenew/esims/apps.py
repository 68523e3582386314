from django.apps import AppConfig
from django.core import checks


class EsimsConfig(AppConfig):
    name = "simrenew.esims"
    label = "esims"
    verbose_name = "eSIMs"

    def ready(self) -> None:
        # Another app fills the registry in its own ready(); the check runs once all are.
        from simrenew.esims.services import hold_checks_registered

        checks.register(hold_checks_registered)
