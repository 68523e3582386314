"""Django's admin app with the console as its default site (INSTALLED_APPS names this
instead of "django.contrib.admin"). Kept apart from console/apps.py: Django picks an
app's config class from apps.py and would find two there."""

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """The admin opening on the console overview, with staff roles (see console/site.py)."""

    default_site = "simrenew.console.site.ConsoleSite"
