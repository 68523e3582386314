from django.urls import URLPattern, path

from simrenew.portal import views_account_settings
from simrenew.portal.views_account_settings import download_my_data

urlpatterns: list[URLPattern] = [
    path("settings/", views_account_settings.account_settings, name="settings"),
    path("language/", views_account_settings.switch_language, name="set_language"),
    # One address per format, no parameter: the portal's URLs with parameters are the ones that take ids
    # (tests/browser/test_isolation.py tries each with another customer's).
    path("settings/my-data.json", download_my_data, {"file_format": "json"}, name="my_data_json"),
    path("settings/my-data.zip", download_my_data, {"file_format": "zip"}, name="my_data_zip"),
    path("settings/delete-account/", views_account_settings.delete_account, name="delete_account"),
]
