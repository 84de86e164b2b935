"""The auditor area, under /audit/ (namespace "audit"); the public key is open to everyone."""

from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.index, name="index"),
    path("trail/", views.case_trail, name="trail"),
    path("verify/", views.verification, name="verify"),
    path("verify/again/", views.verify_again, name="verify_again"),
    path("export/", views.export, name="export"),
    path("public-key.pem", views.public_key, name="public_key"),
]
