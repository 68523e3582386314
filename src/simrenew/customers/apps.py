from django.apps import AppConfig
from django.core import checks


class CustomersConfig(AppConfig):
    name = "simrenew.customers"
    label = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        # Another app fills the registry in its own ready(); the check runs once all are.
        from simrenew.customers.services import on_created_registered

        checks.register(on_created_registered)
