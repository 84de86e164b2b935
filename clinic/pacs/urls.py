from django.urls import path

from clinic.pacs import dicomweb, views

app_name = "pacs"

urlpatterns = [
    # The clinic admin: the DICOM node and DICOMweb tokens.
    path("clinic/dicom/", views.node_settings, name="node"),
    path("clinic/dicom/peers/", views.peer_add, name="peer_add"),
    path("clinic/dicom/peers/<int:peer_id>/delete/", views.peer_delete, name="peer_delete"),
    path("clinic/dicom/tokens/", views.token_create, name="token_create"),
    path(
        "clinic/dicom/tokens/<int:dicomweb_token_id>/revoke/",
        views.token_revoke,
        name="token_revoke",
    ),
    # Clinicians.
    path("clinician/studies/", views.study_list, name="inbox"),
    path("clinician/studies/<uuid:study_id>/", views.study_detail, name="study"),
    path("clinician/studies/<uuid:study_id>/hand-off/", views.study_handoff, name="handoff"),
    path(
        "clinician/studies/<uuid:study_id>/images/<uuid:image_id>/redact/",
        views.image_redact,
        name="image_redact",
    ),
    path("clinician/shared/", views.shared_list, name="shared"),
    path("clinician/shared/<uuid:share_id>/", views.shared_answer, name="shared_answer"),
    path(
        "clinician/shared/<uuid:share_id>/images/<int:n>/",
        views.shared_image,
        name="shared_image",
    ),
    # Patients.
    path("shares/", views.share_list, name="shares"),
    path("shares/answer/<uuid:answer_id>/", views.share, name="share"),
    path("shares/<uuid:share_id>/revoke/", views.revoke, name="revoke"),
    # DICOMweb: STOW-RS (POST) and QIDO-RS (GET), with a clinic token.
    path("dicomweb/studies", dicomweb.studies, name="dicomweb_studies"),
]
