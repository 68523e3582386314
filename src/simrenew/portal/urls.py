from django.urls import path

from simrenew.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
