from django.urls import URLPattern, path

from simrenew.portal import views_account_settings

urlpatterns: list[URLPattern] = [
    path("settings/", views_account_settings.account_settings, name="settings"),
    path("language/", views_account_settings.switch_language, name="set_language"),
    path("settings/my-data.<str:file_format>", views_account_settings.download_my_data, name="my_data"),
    path("settings/delete-account/", views_account_settings.delete_account, name="delete_account"),
]
