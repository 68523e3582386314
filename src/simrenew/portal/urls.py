"""The portal's URLs, one module per part of the journey (each owned by its views module)."""

from django.urls import path

from simrenew.portal import urls_account_settings, urls_manage, urls_renewal, views, views_help

app_name = "portal"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("help/", views_help.help_page, name="help"),
    *urls_account_settings.urlpatterns,
    *urls_renewal.urlpatterns,
    *urls_manage.urlpatterns,
]
