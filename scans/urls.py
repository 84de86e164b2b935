from django.urls import include, path

from scans import tus, views

app_name = "scans"

urlpatterns = [
    path("", views.scan_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("tus/", include(tus.patterns(api=False))),
    path("<uuid:scan_id>/", views.scan_detail, name="detail"),
    path("<uuid:scan_id>/status.json", views.scan_status, name="status"),
    path("<uuid:scan_id>/delete/", views.scan_delete, name="delete"),
    path("<uuid:scan_id>/removed/", views.removed_values, name="removed_values"),
    path("<uuid:scan_id>/images/<uuid:image_id>/preview.png", views.preview, name="preview"),
    path(
        "<uuid:scan_id>/images/<uuid:image_id>/window/<slug:key>.png",
        views.windowed,
        name="windowed",
    ),
    path(
        "<uuid:scan_id>/images/<uuid:image_id>/original.png",
        views.original_preview,
        name="original",
    ),
]
