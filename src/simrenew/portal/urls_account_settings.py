from django.urls import URLPattern, path

from simrenew.portal import views_account_settings

urlpatterns: list[URLPattern] = [
    path("settings/", views_account_settings.account_settings, name="settings"),
    path("language/", views_account_settings.switch_language, name="set_language"),
]
