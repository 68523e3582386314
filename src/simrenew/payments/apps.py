from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "simrenew.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from simrenew.payments import wallet_top_ups

        wallet_top_ups.register()
