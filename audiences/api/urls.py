"""/api/v1/: paths are a contract with partners; add, never rename."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from audiences.api import views, views_segments, views_sync, views_trust

app_name = "api"

public = {"authentication_classes": [], "permission_classes": [AllowAny], "throttle_classes": []}

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(**public), name="schema"),
    # Swagger UI's start-up script is served from docs/?script, not inline: the Content-Security-Policy allows no
    # inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", **public), name="docs"),
    path("connection/", views.ConnectionView.as_view(), name="connection"),
    path("ad-accounts/<str:id>/audiences/", views.AdAccountAudiencesView.as_view(),
         name="ad-account-audiences"),
    path("canvases/", views.CanvasListView.as_view(), name="canvases"),
    path("canvases/<int:pk>/", views.CanvasDetailView.as_view(), name="canvas"),
    path("canvases/<int:pk>/launch/", views.CanvasLaunchView.as_view(), name="canvas-launch"),
    path("canvases/<int:pk>/stop/", views.CanvasStopView.as_view(), name="canvas-stop"),
    path("canvases/<int:pk>/steps/", views.CanvasStepsView.as_view(), name="canvas-steps"),
    path("canvases/<int:pk>/entries/", views_sync.CanvasEntriesView.as_view(), name="canvas-entries"),
    path("steps/<int:pk>/", views.StepDetailView.as_view(), name="step"),
    path("steps/<int:pk>/metrics/", views_sync.StepMetricsView.as_view(), name="step-metrics"),
    path("steps/<int:pk>/records/", views_sync.StepRecordsView.as_view(), name="step-records"),
    path("steps/<int:pk>/retry-errored/", views_sync.StepRetryErroredView.as_view(), name="step-retry-errored"),
    # Trust and privacy
    path("audit-events/", views_trust.AuditEventsView.as_view(), name="audit-events"),
    path("suppressions/", views_trust.SuppressionsView.as_view(), name="suppressions"),
    path("suppressions/remove/", views_trust.SuppressionsRemoveView.as_view(), name="suppressions-remove"),
    # An external id may hold any character, "/" included (sent as %2F): the path converter takes it whole.
    path("users/<path:external_id>/", views_trust.UserEraseView.as_view(), name="user-erase"),
    path("steps/<int:pk>/preview/", views_trust.StepPreviewView.as_view(), name="step-preview"),
    path("alert-settings/", views_trust.AlertSettingsView.as_view(), name="alert-settings"),
    path("privacy-requests/<int:pk>/", views_trust.PrivacyRequestView.as_view(), name="privacy-request"),
    # Segments kept in step by snapshots
    path("segments/", views_segments.SegmentsView.as_view(), name="segments"),
    path("segments/<int:pk>/", views_segments.SegmentDetailView.as_view(), name="segment"),
    path("segments/<int:pk>/snapshots/", views_segments.SnapshotsView.as_view(), name="segment-snapshots"),
    path("segments/<int:pk>/snapshots/<int:snapshot_pk>/", views_segments.SnapshotDetailView.as_view(),
         name="segment-snapshot"),
    path("segments/<int:pk>/snapshots/<int:snapshot_pk>/members/", views_segments.SnapshotMembersView.as_view(),
         name="segment-snapshot-members"),
    path("segments/<int:pk>/snapshots/<int:snapshot_pk>/commit/", views_segments.SnapshotCommitView.as_view(),
         name="segment-snapshot-commit"),
    path("segments/<int:pk>/snapshots/<int:snapshot_pk>/discard/", views_segments.SnapshotDiscardView.as_view(),
         name="segment-snapshot-discard"),
    # Last: every other path answers the API's JSON 404, never Django's HTML page.
    re_path(r"^[\s\S]*$", views.not_found, name="not-found"),
]
