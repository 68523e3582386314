from django.apps import AppConfig


class SimrenewConfig(AppConfig):
    """The project's own app: the `simrenew` CLI verbs and the deploy checks."""

    name = "simrenew"
    verbose_name = "simrenew"

    def ready(self) -> None:
        from simrenew import deploy_checks  # noqa: F401 - registers the checks
