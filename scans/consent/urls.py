"""Pages for consent, sending and answers."""

from django.urls import path

from scans.consent import views

app_name = "consent"

urlpatterns = [
    path("scans/<uuid:scan_id>/consent/", views.ask, name="ask"),
    path("scans/<uuid:scan_id>/consent/<uuid:request_id>/", views.review, name="review"),
    path("scans/<uuid:scan_id>/consent/<uuid:request_id>/accept/", views.accept, name="accept"),
    path(
        "scans/<uuid:scan_id>/consent/<uuid:request_id>/images/<uuid:image_id>",
        views.prepared_image,
        name="prepared_image",
    ),
    path("consents/<uuid:consent_id>/withdraw/", views.withdraw, name="withdraw"),
    path("consents/<uuid:consent_id>/receipt/", views.receipt_page, name="receipt_page"),
    path("consents/<uuid:consent_id>/receipt/<slug:kind>.json", views.receipt, name="receipt"),
    path("answers/<uuid:answer_id>/", views.answer_detail, name="answer"),
    path("answers/<uuid:answer_id>/delete/", views.answer_delete, name="answer_delete"),
]
