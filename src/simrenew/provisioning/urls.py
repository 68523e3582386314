"""What outside systems call on us, at the paths their standards give (at the site root)."""

from django.urls import path

from simrenew.provisioning import listener_views, progress_views

urlpatterns = [
    path(
        "gsma/rsp2/es2plus/handleDownloadProgressInfo",
        progress_views.handle_download_progress_info,
        name="es2plus-handle-download-progress-info",
    ),
    path(
        "tmf-api/serviceOrdering/v4/listener/serviceOrderStateChangeEvent",
        listener_views.service_order_state_change,
        name="tmf641-listener-service-order-state-change",
    ),
]
