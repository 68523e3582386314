"""Manage a plan, add and install an eSIM, usage and connection check (views_manage)."""

from django.urls import URLPattern, path

from simrenew.portal import views_manage

urlpatterns: list[URLPattern] = [
    path("subscriptions/<int:subscription_id>/manage/", views_manage.manage, name="manage"),
    path("subscriptions/<int:subscription_id>/auto-renew/", views_manage.auto_renew, name="auto_renew"),
    path("subscriptions/<int:subscription_id>/renewal-plan/", views_manage.renewal_plan, name="renewal_plan"),
    path("subscriptions/<int:subscription_id>/cancel/", views_manage.cancel_subscription, name="cancel"),
    path("subscriptions/<int:subscription_id>/resume/", views_manage.resume_subscription, name="resume"),
    path("subscriptions/<int:subscription_id>/retry-refund/", views_manage.retry_refund, name="retry_refund"),
    path("subscriptions/<int:subscription_id>/top-up/", views_manage.top_up, name="top_up"),
    path("subscriptions/<int:subscription_id>/usage/", views_manage.usage, name="usage"),
    path(
        "subscriptions/<int:subscription_id>/connection-check/",
        views_manage.connection_check,
        name="connection_check",
    ),
    path(
        "subscriptions/<int:subscription_id>/connection-check/<str:token>/",
        views_manage.connection_status,
        name="connection_status",
    ),
    path("esims/add/", views_manage.add_esim, name="add_esim"),
    path("esims/<int:esim_id>/install/", views_manage.install, name="install"),
]
