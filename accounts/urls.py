from django.urls import path

from accounts import views

urlpatterns = [
    path("i18n/setlang/", views.choose_language, name="set_language"),
    path("account/", views.account, name="account"),
    path("account/time-zone/", views.set_time_zone, name="account_time_zone"),
    path("account/tokens/", views.create_token, name="account_token_create"),
    path("account/tokens/<int:token_id>/delete/", views.delete_token, name="account_token_delete"),
]

role_patterns = (
    [
        path("clinician/", views.clinician, name="clinician"),
    ],
    "roles",
)
