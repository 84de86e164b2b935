"""Who may use which route: the expectation table of the access-control matrix, and the world
(one patient's case, another patient, staff) every cell of the matrix runs against.

Each route maps to one row of outcomes, one per subject. The subjects:

- ``anonymous``: not signed in, no token;
- ``owner``: the patient whose scan, consents, answer and token the URLs point at;
- ``other_patient``: another patient, trying the owner's URLs;
- ``clinician``, ``auditor``, ``clinic_admin``: staff with TOTP set up (a clinic admin is also
  ``is_staff``, as every clinic admin account is, see ``clinic/people.py``);
- ``admin_without_mfa``: a clinic admin who has not set up TOTP yet.

Pages are opened with a session, API routes with the subject's bearer token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import ApiToken, Role, User
from accounts.tokens import issue_token
from audit.log import append as audit
from audit.models import AuditEntry
from audit.reading import VERDICT_CACHE_KEY
from clinic.models import RetentionPolicy
from clinic.pacs.handoff import hand_off
from clinic.pacs.models import AllowedPeer, DicomNode, DicomwebToken, Handoff, Share, Source, Study
from clinic.pacs.node import issue_token as issue_dicomweb_token
from clinic.pacs.receiving import receive_instance
from clinic.pacs.sharing import share_answer
from forwarding.models import Endpoint
from scans.models import (
    Answer,
    Consent,
    ConsentRequest,
    ConsentState,
    ResumableUpload,
    Scan,
    ScanImage,
)
from tests.support import builders
from tests.support.accounts import PASSWORD, make_user
from tests.support.pacs import held_back_image
from tests.support.stored import endpoint as stored_endpoint
from tests.support.stored import stored_scan
from vault import get_vault

SUBJECTS = (
    "anonymous",
    "owner",
    "other_patient",
    "clinician",
    "auditor",
    "clinic_admin",
    "admin_without_mfa",
)

# What a response means for access, as ``outcome_of`` classifies it.
OK = "allowed"  # got past every access check: 2xx, 409, or a redirect somewhere else
NOOP = "allowed, changes nothing"  # a normal answer, but another's object stays untouched
BAD = "400"  # refused as input; counts as OK where a cell may act
LOGIN = "sent to sign in"
MFA = "sent to set up TOTP"
E401 = "401"
E403 = "403"
E404 = "404"


def outcome_of(status: int, location: str) -> str:
    if status in (301, 302):
        if location.startswith("/accounts/login/"):
            return LOGIN
        if location == "/accounts/2fa/totp/activate/":
            return MFA
    if status in (400, 401, 403, 404):
        return {400: BAD, 401: E401, 403: E403, 404: E404}[status]
    if status == 405 or status >= 500:
        return f"HTTP {status}"
    return OK


def accepts(wanted: str, got: str) -> bool:
    """Whether a response classified ``got`` is what the table's ``wanted`` allows."""
    if wanted in (OK, NOOP):
        return got in (OK, BAD)
    return got == wanted


def row(*outcomes: str) -> dict[str, str]:
    assert len(outcomes) == len(SUBJECTS)
    return dict(zip(SUBJECTS, outcomes, strict=True))


# fmt: off
#                       anonymous    owner  other   clinician auditor clinic_admin admin_without_mfa
PUBLIC =            row(OK,          OK,    OK,     OK,       OK,     OK,          OK)
HOME =              row(OK,          OK,    OK,     OK,       OK,     OK,          MFA)
SIGNED_IN =         row(LOGIN,       OK,    OK,     OK,       OK,     OK,          MFA)
OWN_TOKEN =         row(LOGIN,       OK,    NOOP,   NOOP,     NOOP,   NOOP,        MFA)
PATIENT_PAGE =      row(LOGIN,       OK,    OK,     E403,     E403,   E403,        MFA)
PATIENT_OBJECT =    row(LOGIN,       OK,    E404,   E403,     E403,   E403,        MFA)
CLINICIAN_PAGE =    row(LOGIN,       E403,  E403,   OK,       E403,   E403,        MFA)
AUDIT_PAGE =        row(LOGIN,       E403,  E403,   E403,     OK,     OK,          MFA)
CLINIC_PAGE =       row(LOGIN,       E403,  E403,   E403,     E403,   OK,          MFA)
# allauth's pages under /accounts/ stay open to staff who still have to set up TOTP.
ACCOUNTS_PAGE =     row(LOGIN,       OK,    OK,     OK,       OK,     OK,          OK)
# A step of a sign-in in progress: without one, back to the sign-in page.
SIGN_IN_STEP =      row(LOGIN,       OK,    OK,     OK,       OK,     OK,          OK)
# Typing a mailed reset code: without a reset in progress, back to the sign-in page for anyone.
RESET_CODE_STEP =   row(LOGIN,       LOGIN, LOGIN,  LOGIN,    LOGIN,  LOGIN,       LOGIN)
# allauth acts on the signed-in user's own factors only: 404 for a factor they do not have.
OWN_TOTP =          row(LOGIN,       E404,  E404,   OK,       OK,     OK,          E404)
OWN_CODES =         row(LOGIN,       E404,  E404,   E404,     E404,   E404,        E404)
# The API schema and docs are public; a signed-in staff session without TOTP gets the
# middleware's JSON 403 on everything under /api/.
# DICOMweb takes a clinic DICOMweb token only; no session, whoever's, gets in.
DICOMWEB =          row(E401,        E401,  E401,   E401,     E401,   E401,        MFA)
API_DOCS =          row(OK,          OK,    OK,     OK,       OK,     OK,          E403)
API_ROOT =          row(E404,        E404,  E404,   E404,     E404,   E404,        E403)
API_PATIENT =       row(E401,        OK,    OK,     E403,     E403,   E403,        E403)
API_PATIENT_OBJ =   row(E401,        OK,    E404,   E403,     E403,   E403,        E403)
API_AUDIT =         row(E401,        E403,  E403,   E403,     OK,     OK,          E403)
# The upload handler seals files for patients only and refuses anyone else (403) before a byte
# of the files is stored.
API_UPLOAD =        row(E401,        OK,    OK,     E403,     E403,   E403,        E403)
# Resumable uploads (tus): scripts get a 401, not a sign-in page. The API's routes take a token
# only, so a session (which is all the matrix signs in with there) is a 401 for everyone.
TUS_PAGE =          row(E401,        OK,    OK,     E403,     E403,   E403,        MFA)
TUS_OBJECT =        row(E401,        OK,    E404,   E403,     E403,   E403,        MFA)
API_TUS =           row(E401,        E401,  E401,   E401,     E401,   E401,        E403)
# fmt: on


class World:
    """The objects of one matrix cell, each built the first time a URL, body or check needs it,
    so a cell pays only for what its route touches."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    # --- People --------------------------------------------------------------------------------

    @cached_property
    def owner(self) -> User:
        return make_user("owner@example.org")

    @cached_property
    def other_patient(self) -> User:
        return make_user("other@example.org")

    @cached_property
    def clinician(self) -> User:
        return with_totp(make_user("clinician@example.org", Role.CLINICIAN))

    @cached_property
    def auditor(self) -> User:
        return with_totp(make_user("auditor@example.org", Role.AUDITOR))

    @cached_property
    def clinic_admin(self) -> User:
        return with_totp(staff(make_user("clinic-admin@example.org", Role.CLINIC_ADMIN)))

    @cached_property
    def admin_without_mfa(self) -> User:
        return staff(make_user("new-admin@example.org", Role.CLINIC_ADMIN))

    @cached_property
    def colleague(self) -> User:
        """The account the clinic's user pages act on: a clinician with TOTP."""
        return with_totp(make_user("colleague@example.org", Role.CLINICIAN))

    @cached_property
    def disabled_colleague(self) -> User:
        user = make_user("former@example.org", Role.CLINICIAN)
        User.objects.filter(pk=user.pk).update(is_active=False)
        return user

    def subject(self, name: str) -> User | None:
        return None if name == "anonymous" else getattr(self, name)

    def bearer(self, name: str) -> dict[str, str]:
        if name == "anonymous":
            return {}
        if name not in self.tokens:
            self.tokens[name] = issue_token(self.subject(name), "matrix")
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    # --- The owner's case ----------------------------------------------------------------------

    @cached_property
    def scan(self) -> Scan:
        """A scan with one image (sanitized copy and both previews), a consent that was sent and
        its answer."""
        return stored_scan(self.owner, answered_days_ago=0).scan

    @cached_property
    def image(self) -> ScanImage:
        return self.scan.images.get()

    @cached_property
    def answer(self) -> Answer:
        return self.scan.answers.get()

    @cached_property
    def endpoint(self) -> Endpoint:
        return stored_endpoint()

    @cached_property
    def open_request(self) -> ConsentRequest:
        """A consent request the owner has not accepted yet, with its prepared image."""
        return consent_request(self.scan, self.image, self.endpoint)

    @cached_property
    def active_consent(self) -> Consent:
        """A consent still waiting to be sent (so it can be withdrawn), with its receipt."""
        request = consent_request(self.scan, self.image, self.endpoint)
        ConsentRequest.objects.filter(pk=request.pk).update(accepted_at=timezone.now())
        record = Consent.objects.create(
            request=request,
            scan=self.scan,
            patient_pseudonym=self.owner.pseudonym,
            endpoint=self.endpoint,
            endpoint_snapshot=request.endpoint_snapshot,
            consent_text=request.consent_text,
            consent_text_version="1",
            consent_text_sha256=request.consent_text_sha256,
            manifest=request.manifest,
            manifest_sha256=request.manifest_sha256,
            question_object=request.question_object,
            prepared_objects={str(self.image.pk): request.prepared[0]["object_id"]},
            given_at=timezone.now(),
            expires_at=request.expires_at,
            client_hash=request.question_sha256,
            state=ConsentState.ACTIVE,
        )
        audit(
            "consent.given",
            actor=self.owner.pseudonym,
            object_type="consent",
            object_id=str(record.pk),
            details={"scan": str(self.scan.pk)},
        )
        return record

    @cached_property
    def resumable_upload(self) -> ResumableUpload:
        return ResumableUpload.objects.create(owner=self.owner, length=10)

    @cached_property
    def token_id(self) -> int:
        issue_token(self.owner, "the owner's phone")
        return ApiToken.objects.get(user=self.owner, name="the owner's phone").pk

    # --- The clinic's side: a study from the PACS, a peer, a DICOMweb token, a share ----------

    @cached_property
    def pacs_study(self) -> Study:
        return receive_instance(builders.make_dicom_bytes(), source=Source.DIMSE).study

    @cached_property
    def pacs_peer(self) -> AllowedPeer:
        return AllowedPeer.objects.create(ae_title="CLINICPACS", address="127.0.0.1")

    @cached_property
    def pacs_token(self) -> DicomwebToken:
        issue_dicomweb_token("router", admin=self.colleague)
        return DicomwebToken.objects.get()

    @cached_property
    def pacs_held_back_image(self) -> ScanImage:
        """An image the verifier held back, in a scan the clinic handed to another patient."""
        handoff = hand_off(self.pacs_study, "handed@example.org", clinician=self.colleague)
        return held_back_image(handoff)

    @cached_property
    def share(self) -> Share:
        return share_answer(self.answer, self.owner)

    # --- URL parameters, by the name the urlconf or the API schema gives them -------------------

    def param(self, name: str) -> str:
        values: dict[str, Callable[[], Any]] = {
            "scan_id": lambda: self.scan.pk,
            "image_id": lambda: self.image.pk,
            "request_id": lambda: self.open_request.pk,
            "consent_id": lambda: self.active_consent.pk,
            "answer_id": lambda: self.answer.pk,
            "upload_id": lambda: self.resumable_upload.pk,
            "token_id": lambda: self.token_id,
            "endpoint_id": lambda: self.endpoint.pk,
            "study_id": lambda: self.pacs_study.pk,
            "peer_id": lambda: self.pacs_peer.pk,
            "dicomweb_token_id": lambda: self.pacs_token.pk,
            "share_id": lambda: self.share.pk,
            "n": lambda: 0,
            "pseudonym": lambda: self.colleague.pseudonym,
            "kind": lambda: "consent",
            # allauth's links from emails, with keys that match nothing.
            "key": lambda: "no-such-key",
            "uidb36": lambda: "zz",
            # The admin's generic object routes.
            "app_label": lambda: "accounts",
            "content_type_id": lambda: "1",
            "object_id": lambda: "1",
        }
        return str(values[name]())


def with_totp(user: User) -> User:
    TOTP.activate(user, generate_totp_secret())
    return user


def staff(user: User) -> User:
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.is_staff = True
    return user


def consent_request(scan: Scan, image: ScanImage, endpoint: Endpoint) -> ConsentRequest:
    vault = get_vault()
    digest = hashlib.sha256(b"matrix").hexdigest()
    return ConsentRequest.objects.create(
        scan=scan,
        endpoint=endpoint,
        endpoint_snapshot={
            "endpoint_id": str(endpoint.pk),
            "config_version": endpoint.config_version,
        },
        question_object=vault.put_bytes(b"What is this shadow?").object_id,
        question_sha256=digest,
        prepared=[
            {
                "image_id": str(image.pk),
                "object_id": str(vault.put_bytes(builders.make_png(8, 8)).object_id),
                "sha256": digest,
                "mime": "image/png",
                "bytes": 10,
            }
        ],
        manifest="{}",
        manifest_sha256=digest,
        consent_text="I agree.",
        consent_text_version="1",
        consent_text_sha256=digest,
        expires_at=timezone.now() + timedelta(hours=1),
    )


# --- The expectation table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """Who may use a route. ``methods`` are the ones the matrix sends; ``data`` builds the body
    (valid, so that a missing check would really act); ``state`` reads what the route can change,
    which must stay the same in every cell that is not OK."""

    outcomes: dict[str, str]
    methods: tuple[str, ...] = ("get",)
    data: Callable[[World], dict] | None = None
    json: bool = False
    state: Callable[[World], Any] | None = None
    path: str | None = None  # for routes that have no name to reverse
    params: dict[str, Callable[[World], str]] = field(default_factory=dict)


def scan_status(w: World) -> str:
    return Scan.objects.get(pk=w.scan.pk).status


def pending_uploads(w: World) -> int:
    return ResumableUpload.objects.count()


def scan_count(w: World) -> int:
    return Scan.objects.count()


def request_count(w: World) -> int:
    return ConsentRequest.objects.count()


def acceptance(w: World) -> tuple:
    return (ConsentRequest.objects.get(pk=w.open_request.pk).accepted_at, Consent.objects.count())


def consent_state(w: World) -> str:
    return Consent.objects.get(pk=w.active_consent.pk).state


def answer_state(w: World) -> tuple:
    return tuple(
        Answer.objects.filter(pk=w.answer.pk).values_list("deleted_at", "answer_object")[0]
    )


def accounts_state(w: World) -> tuple:
    return (User.objects.count(), User.objects.filter(is_active=True).count())


def colleague_state(w: World) -> tuple:
    user = User.objects.get(pk=w.colleague.pk)
    factors = Authenticator.objects.filter(user=user).count()
    return (user.role, user.is_active, factors)


def endpoint_state(w: World) -> tuple:
    return tuple(
        Endpoint.objects.filter(pk=w.endpoint.pk).values_list("name", "enabled", "config_version")[
            0
        ]
    )


def exports_logged(w: World) -> int:
    return AuditEntry.objects.filter(action="audit.exported").count()


def upload_files(w: World) -> dict:
    return {"files": [SimpleUploadedFile("IM1", builders.make_dicom_bytes())]}


def accept_body(w: World) -> dict:
    request = w.open_request
    return {
        "consent_text_sha256": request.consent_text_sha256,
        "manifest_sha256": request.manifest_sha256,
    }


def endpoint_form(name: str) -> Callable[[World], dict]:
    def body(w: World) -> dict:
        return {
            "name": name,
            "protocol": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m-2",
            "is_local": "on",
            "timeout_seconds": 60,
            "max_images": 4,
            "max_image_side": 1568,
            "max_image_mib": 4,
            "system_prompt": "Describe.",
            "data_use_note": "Keeps nothing.",
            "enabled": "on",
        }

    return body


def retention_policy(w: World) -> tuple:
    policy = (
        RetentionPolicy.objects.order_by("pk")
        .values_list("originals_days", "sanitized_days", "answers_days", "unconsented_days")
        .last()
    )
    return (RetentionPolicy.objects.count(), policy)


GET_POST = ("get", "post")

DJANGO_ROUTES: dict[str, Expect] = {
    "home": Expect(HOME),
    "healthz": Expect(PUBLIC, path="/healthz"),
    "javascript-catalog": Expect(PUBLIC),
    # --- allauth: sign-in, sign-up and recovery are public; the rest act on the signed-in
    # user only. /accounts/ stays open to a staff account that still has to set up TOTP.
    "account_login": Expect(PUBLIC),
    "account_logout": Expect(PUBLIC),
    "account_inactive": Expect(PUBLIC),
    "account_signup": Expect(PUBLIC),
    "account_reauthenticate": Expect(ACCOUNTS_PAGE),
    "account_request_reauthentication_code": Expect(ACCOUNTS_PAGE),
    "account_confirm_reauthentication_code": Expect(ACCOUNTS_PAGE),
    "account_email": Expect(ACCOUNTS_PAGE),
    "account_email_verification_sent": Expect(SIGN_IN_STEP),
    "account_change_password": Expect(ACCOUNTS_PAGE),
    "account_set_password": Expect(ACCOUNTS_PAGE),
    "account_reset_password": Expect(PUBLIC),
    "account_confirm_login_code": Expect(SIGN_IN_STEP),
    # Password reset by a mailed code: steps of one pending reset, nothing without it.
    "account_confirm_password_reset_code": Expect(RESET_CODE_STEP),
    "account_complete_password_reset": Expect(PUBLIC),
    "account_password_reset_completed": Expect(PUBLIC),
    "mfa_index": Expect(ACCOUNTS_PAGE),
    "mfa_authenticate": Expect(SIGN_IN_STEP),
    "mfa_reauthenticate": Expect(ACCOUNTS_PAGE),
    "mfa_activate_totp": Expect(ACCOUNTS_PAGE),
    "mfa_deactivate_totp": Expect(OWN_TOTP),
    "mfa_view_recovery_codes": Expect(OWN_CODES),
    "mfa_generate_recovery_codes": Expect(ACCOUNTS_PAGE),
    "mfa_download_recovery_codes": Expect(OWN_CODES),
    # --- The account page and personal API tokens.
    "account": Expect(SIGNED_IN),
    "account_delete": Expect(
        PATIENT_PAGE,
        GET_POST,
        state=accounts_state,
        data=lambda w: {"password": PASSWORD, "confirm": "on"},
    ),
    "account_token_create": Expect(
        SIGNED_IN,
        ("post",),
        data=lambda w: {"name": "laptop"},
        state=lambda w: ApiToken.objects.count(),
    ),
    # The language switcher works for everyone (a cookie; kept on the account when signed in).
    "set_language": Expect(PUBLIC, ("post",), data=lambda w: {"language": "de", "next": "/"}),
    # Posted by every page's script while the account has no zone, staff without TOTP included.
    "account_time_zone": Expect(
        ACCOUNTS_PAGE,
        ("post",),
        data=lambda w: {"time_zone": "Europe/Berlin"},
        state=lambda w: sorted(User.objects.values_list("time_zone", flat=True)),
    ),
    "account_token_delete": Expect(
        OWN_TOKEN, ("post",), state=lambda w: ApiToken.objects.filter(pk=w.token_id).exists()
    ),
    "roles:clinician": Expect(CLINICIAN_PAGE),
    # --- A patient's scans.
    "scans:list": Expect(PATIENT_PAGE),
    "scans:upload": Expect(PATIENT_PAGE, ("post",), data=upload_files, state=scan_count),
    "scans:detail": Expect(PATIENT_OBJECT),
    "scans:status": Expect(PATIENT_OBJECT),
    "scans:delete": Expect(PATIENT_OBJECT, GET_POST, state=scan_status),
    "scans:preview": Expect(PATIENT_OBJECT),
    "scans:original": Expect(PATIENT_OBJECT),
    "scans:removed_values": Expect(PATIENT_OBJECT),
    "scans:windowed": Expect(PATIENT_OBJECT, params={"key": lambda w: "soft_tissue"}),
    # Resumable uploads answer scripts, so a missing session is a 401, not a sign-in page.
    "scans:tus-create": Expect(TUS_PAGE, ("post",), state=pending_uploads),
    "scans:tus-finish": Expect(TUS_PAGE, ("post",), state=scan_count),
    "scans:tus-upload": Expect(TUS_OBJECT, ("head",)),
    "api-tus-create": Expect(API_TUS, ("post",), state=pending_uploads),
    "api-tus-finish": Expect(API_TUS, ("post",), state=scan_count),
    "api-tus-upload": Expect(API_TUS, ("head",)),
    # --- Consent and answers.
    "consent:ask": Expect(
        PATIENT_OBJECT,
        GET_POST,
        state=request_count,
        data=lambda w: {
            "endpoint": str(w.endpoint.pk),
            "images": [str(w.image.pk)],
            "question": "Is it ok?",
        },
    ),
    "consent:review": Expect(PATIENT_OBJECT),
    "consent:accept": Expect(
        PATIENT_OBJECT,
        ("post",),
        state=acceptance,
        data=lambda w: {**accept_body(w), "agree": "yes"},
    ),
    "consent:prepared_image": Expect(PATIENT_OBJECT),
    "consent:withdraw": Expect(PATIENT_OBJECT, ("post",), state=consent_state),
    "consent:receipt_page": Expect(PATIENT_OBJECT),
    "consent:receipt": Expect(PATIENT_OBJECT),
    "consent:answer": Expect(PATIENT_OBJECT),
    "consent:answer_delete": Expect(PATIENT_OBJECT, GET_POST, state=answer_state),
    # --- The auditor area; its public key is for everyone who checks a receipt.
    "audit:index": Expect(AUDIT_PAGE),
    "audit:trail": Expect(AUDIT_PAGE),
    "audit:verify": Expect(AUDIT_PAGE),
    "audit:verify_again": Expect(
        AUDIT_PAGE, ("post",), state=lambda w: cache.get(VERDICT_CACHE_KEY) is None
    ),
    "audit:export": Expect(
        AUDIT_PAGE, ("post",), data=lambda w: {"format": "csv"}, state=exports_logged
    ),
    "audit:public_key": Expect(PUBLIC),
    # --- The clinic admin area.
    "clinic:index": Expect(CLINIC_PAGE),
    "clinic:users": Expect(CLINIC_PAGE),
    # Public: an invited person sets their password with the mailed code (or is refused).
    "clinic:invitation": Expect(HOME),
    "clinic:invite": Expect(
        CLINIC_PAGE,
        GET_POST,
        state=accounts_state,
        data=lambda w: {"email": "invited@example.org", "role": "clinician"},
    ),
    "clinic:user": Expect(CLINIC_PAGE),
    "clinic:user_role": Expect(
        CLINIC_PAGE, ("post",), data=lambda w: {"role": "auditor"}, state=colleague_state
    ),
    "clinic:user_disable": Expect(CLINIC_PAGE, GET_POST, state=colleague_state),
    "clinic:user_enable": Expect(
        CLINIC_PAGE,
        ("post",),
        params={"pseudonym": lambda w: w.disabled_colleague.pseudonym},
        state=lambda w: User.objects.get(pk=w.disabled_colleague.pk).is_active,
    ),
    "clinic:user_reset_mfa": Expect(CLINIC_PAGE, GET_POST, state=colleague_state),
    "clinic:endpoints": Expect(CLINIC_PAGE),
    "clinic:endpoint_create": Expect(
        CLINIC_PAGE,
        GET_POST,
        data=endpoint_form("New model"),
        state=lambda w: Endpoint.objects.count(),
    ),
    "clinic:endpoint_edit": Expect(
        CLINIC_PAGE, GET_POST, data=endpoint_form("Renamed"), state=endpoint_state
    ),
    "clinic:endpoint_disable": Expect(CLINIC_PAGE, ("post",), state=endpoint_state),
    # Its outcome is only recorded (an unreachable address here); nothing else changes.
    "clinic:endpoint_test": Expect(
        CLINIC_PAGE, ("post",), state=lambda w: AuditEntry.objects.filter(
            action="endpoint.tested").count()
    ),
    "clinic:retention": Expect(
        CLINIC_PAGE,
        GET_POST,
        state=retention_policy,
        data=lambda w: {
            "originals_days": 11,
            "sanitized_days": 12,
            "answers_days": 13,
            "unconsented_days": 14,
        },
    ),
    "clinic:health": Expect(CLINIC_PAGE),
    # --- The clinic's side: the DICOM node's settings, the clinicians' inbox and shared
    # answers, a patient's shares, DICOMweb.
    "pacs:node": Expect(
        CLINIC_PAGE,
        GET_POST,
        data=lambda w: {"ae_title": "RENAMED"},
        state=lambda w: list(DicomNode.objects.values_list("ae_title", flat=True)),
    ),
    "pacs:peer_add": Expect(
        CLINIC_PAGE,
        ("post",),
        data=lambda w: {"ae_title": "NEWPACS", "address": "10.0.0.9"},
        state=lambda w: AllowedPeer.objects.count(),
    ),
    "pacs:peer_delete": Expect(
        CLINIC_PAGE,
        ("post",),
        state=lambda w: AllowedPeer.objects.filter(pk=w.pacs_peer.pk).exists(),
    ),
    "pacs:token_create": Expect(
        CLINIC_PAGE,
        ("post",),
        data=lambda w: {"name": "router"},
        state=lambda w: DicomwebToken.objects.count(),
    ),
    "pacs:token_revoke": Expect(
        CLINIC_PAGE,
        ("post",),
        state=lambda w: DicomwebToken.objects.get(pk=w.pacs_token.pk).revoked_at,
    ),
    "pacs:inbox": Expect(CLINICIAN_PAGE),
    "pacs:study": Expect(CLINICIAN_PAGE),
    "pacs:handoff": Expect(
        CLINICIAN_PAGE,
        ("post",),
        data=lambda w: {"email": "handed@example.org"},
        state=lambda w: (Handoff.objects.count(), Scan.objects.count()),
    ),
    "pacs:image_redact": Expect(
        CLINICIAN_PAGE,
        ("post",),
        data=lambda w: {"boxes": "0,0,4,4"},
        params={
            "study_id": lambda w: str(w.pacs_held_back_image.scan.handoff.study_id),
            "image_id": lambda w: str(w.pacs_held_back_image.pk),
        },
        state=lambda w: ScanImage.objects.get(pk=w.pacs_held_back_image.pk).outcome,
    ),
    "pacs:shared": Expect(CLINICIAN_PAGE),
    "pacs:shared_answer": Expect(CLINICIAN_PAGE),
    "pacs:shared_image": Expect(CLINICIAN_PAGE),
    "pacs:shares": Expect(PATIENT_PAGE),
    "pacs:share": Expect(
        PATIENT_OBJECT, ("post",), state=lambda w: Share.objects.filter(revoked_at=None).count()
    ),
    "pacs:revoke": Expect(
        PATIENT_OBJECT, ("post",), state=lambda w: Share.objects.get(pk=w.share.pk).revoked_at
    ),
    "pacs:dicomweb_studies": Expect(
        DICOMWEB,
        ("get", "post"),
        data=lambda w: {"file": builders.make_dicom_bytes().hex()},
        state=lambda w: Study.objects.count(),
    ),
    # --- The API's own pages (its operations are checked from the OpenAPI schema below).
    "api-1:openapi-json": Expect(API_DOCS),
    "api-1:openapi-view": Expect(API_DOCS),
    "api-1:api-root": Expect(API_ROOT),
}

def django_expectation(key: str) -> Expect | None:
    return DJANGO_ROUTES.get(key)


# Paths served before URL resolution (WhiteNoise), checked like routes.
EXTRA_PATHS: dict[str, Expect] = {
    "/static/css/gateway.css": Expect(PUBLIC, path="/static/css/gateway.css"),
}


def consent_request_body(w: World) -> dict:
    return {"endpoint": str(w.endpoint.pk), "question": "Is there anything unusual?"}


# Keyed by "METHOD /api/v1/path" exactly as the OpenAPI schema names the operation.
API_ROUTES: dict[str, Expect] = {
    "GET /api/v1/scans": Expect(API_PATIENT),
    "POST /api/v1/scans": Expect(API_UPLOAD, data=upload_files, state=scan_count),
    "GET /api/v1/scans/{scan_id}": Expect(API_PATIENT_OBJ),
    "DELETE /api/v1/scans/{scan_id}": Expect(API_PATIENT_OBJ, state=scan_status),
    "GET /api/v1/scans/{scan_id}/report": Expect(API_PATIENT_OBJ),
    "GET /api/v1/scans/{scan_id}/images/{image_id}/preview": Expect(API_PATIENT_OBJ),
    "GET /api/v1/endpoints": Expect(API_PATIENT),
    "POST /api/v1/scans/{scan_id}/consent-requests": Expect(
        API_PATIENT_OBJ, data=consent_request_body, json=True, state=request_count
    ),
    "GET /api/v1/consent-requests/{request_id}": Expect(API_PATIENT_OBJ),
    "GET /api/v1/consent-requests/{request_id}/images/{image_id}": Expect(API_PATIENT_OBJ),
    "POST /api/v1/consent-requests/{request_id}/accept": Expect(
        API_PATIENT_OBJ,
        data=lambda w: {**accept_body(w), "affirm": True},
        json=True,
        state=acceptance,
    ),
    "GET /api/v1/scans/{scan_id}/consents": Expect(API_PATIENT_OBJ),
    "GET /api/v1/consents/{consent_id}": Expect(API_PATIENT_OBJ),
    "POST /api/v1/consents/{consent_id}/withdraw": Expect(API_PATIENT_OBJ, state=consent_state),
    "GET /api/v1/consents/{consent_id}/receipt": Expect(API_PATIENT_OBJ),
    "GET /api/v1/scans/{scan_id}/answers": Expect(API_PATIENT_OBJ),
    "GET /api/v1/answers/{answer_id}": Expect(API_PATIENT_OBJ),
    "DELETE /api/v1/answers/{answer_id}": Expect(API_PATIENT_OBJ, state=answer_state),
    "GET /api/v1/audit/events": Expect(API_AUDIT),
    "GET /api/v1/audit/verify": Expect(API_AUDIT),
    "GET /api/v1/audit/export": Expect(API_AUDIT, state=exports_logged),
}
