"""Settings for the scan gateway, all read from environment variables.

Two shapes share this one module:

* the embedded default (``GATEWAY_ENV=embedded``, what ``make run`` uses): SQLite, encrypted
  blobs on local disk under ``DATA_DIR``, a Celery broker on the local filesystem, email written
  to files; keys are generated on first start by ``manage.py init_keys``;
* production (``GATEWAY_ENV=production``, what ``compose.yaml`` uses): PostgreSQL, Redis, and a
  refusal to start without a real ``SECRET_KEY`` and a vault keyring.

Every variable is listed, with its default, in README.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gateway.jsonlog import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# Every process (web, workers, beat, manage.py) reads these settings first: whatever it writes
# from here on (the SQLite database and its -wal/-shm, mail files, cache, queue folders) is
# private to its user: files 0600, folders 0700.
os.umask(0o077)
# onnxruntime (the burned-in text detector) keeps a telemetry store in the home folder unless
# told otherwise; nothing about this gateway's work leaves the process.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def env(name: str, default: str = "") -> str:
    """Return a setting, reading ``NAME_FILE`` first so container secrets can be mounted."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


GATEWAY_ENV = env("GATEWAY_ENV", "embedded")
if GATEWAY_ENV not in {"embedded", "production"}:
    raise ImproperlyConfigured("GATEWAY_ENV must be 'embedded' or 'production'")
PRODUCTION = GATEWAY_ENV == "production"

DATA_DIR = Path(env("DATA_DIR", str(BASE_DIR / "var"))).resolve()
KEYS_DIR = Path(env("KEYS_DIR", str(DATA_DIR / "keys"))).resolve()

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set in production.")
    # The embedded default keeps a generated key beside the other local keys (make run creates it).
    _local_secret = KEYS_DIR / "django-secret.key"
    SECRET_KEY = _local_secret.read_text().strip() if _local_secret.exists() else ""
    if not SECRET_KEY:
        SECRET_KEY = "embedded-setup-only-" + "x" * 40
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith(("change", "embedded"))):
    raise ImproperlyConfigured("SECRET_KEY looks like a placeholder; set a long random value.")

# "testserver" is Django's test client's host: the test settings add it, nothing else does.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PUBLIC_URL = env("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# The client's address (rate limits, sign-in lock-out, the consent's client hash): behind a
# proxy REMOTE_ADDR is the proxy. Either the number of proxies in front that each append to
# X-Forwarded-For (1 for the one TLS proxy README describes), or a header that the proxy sets
# and clients cannot (e.g. X-Real-IP). Neither: REMOTE_ADDR, for a server facing clients itself.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
TRUSTED_CLIENT_IP_HEADER = env("TRUSTED_CLIENT_IP_HEADER")
# The name people see in page titles and e-mails.
SITE_NAME = env("SITE_NAME", "Scan gateway")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "ninja",
    "vault",
    "audit",
    "accounts",
    "forwarding",
    "scans",
    "clinic",
    "clinic.pacs",
]

MIDDLEWARE = [
    "gateway.client_address.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "gateway.hosts.HostPortMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "gateway.caching.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Accept-Language, or the language cookie set by the switcher (after sessions, before common).
    "django.middleware.locale.LocaleMiddleware",
    "scans.upload.UploadGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's own language and time zone (stored on the account) win over the browser's.
    "accounts.middleware.AccountLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.RoleMFAMiddleware",
]

ROOT_URLCONF = "gateway.urls"
WSGI_APPLICATION = "gateway.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "accounts.context_processors.roles",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'gateway.sqlite3'}")
DATABASES = {
    # gunicorn's gevent workers set 0: a connection per request in flight, not per greenlet.
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web, worker) share one SQLite file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

CACHE_URL = env("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    # File-based, so the login rate limits hold across the web server's processes.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en"
# The languages of every page, e-mail and consent text; the switcher offers these.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
]
TIME_ZONE = "UTC"
USE_I18N = True
# locale/en: allauth's English wording in sentence case (its msgids: other languages keep theirs).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Uploads: every file goes through the encrypting handler, never to a plaintext temp file.
FILE_UPLOAD_HANDLERS = ["scans.upload.EncryptingUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 0
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # non-file form fields only
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 2 * 1024**3)
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 1000)
# A resumable upload (tus) untouched this long is shredded by the sweeper.
RESUMABLE_UPLOAD_TTL_SECONDS = env_int("RESUMABLE_UPLOAD_TTL_SECONDS", 24 * 3600)
# The size of each piece the browser sends: what a dropped connection can lose at most.
RESUMABLE_CHUNK_BYTES = env_int("RESUMABLE_CHUNK_BYTES", 8 * 1024**2)
# Django's own count of parts, checked before ours: one above ours, so that past UPLOAD_MAX_FILES
# the upload's own refusal (413) answers, not Django's.
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES + 1
ZIP_MAX_MEMBERS = env_int("ZIP_MAX_MEMBERS", 5000)
ZIP_MAX_RATIO = env_int("ZIP_MAX_RATIO", 100)
ZIP_MAX_UNCOMPRESSED_BYTES = env_int("ZIP_MAX_UNCOMPRESSED_BYTES", 8 * 1024**3)
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 80_000_000)

# --- The clinic's DICOM node (README "Clinic side"): `manage.py dicom_listen`, its own process.
DICOM_BIND = env("DICOM_BIND", "127.0.0.1")
DICOM_PORT = env_int("DICOM_PORT", 11112)
# The largest PDU the node accepts; a peer that sends a bigger one is cut off.
DICOM_MAX_PDU = env_int("DICOM_MAX_PDU", 256 * 1024)
# One instance is assembled in memory (never on disk) before it is sealed: this bounds it.
DICOM_MAX_INSTANCE_BYTES = env_int("DICOM_MAX_INSTANCE_BYTES", 512 * 1024**2)
DICOM_MAX_ASSOCIATIONS = env_int("DICOM_MAX_ASSOCIATIONS", 10)
DICOM_MAX_ASSOCIATIONS_PER_PEER = env_int("DICOM_MAX_ASSOCIATIONS_PER_PEER", 2)
# Seconds a silent peer may hold an association (ACSE, DIMSE and network timeouts).
DICOM_TIMEOUT_SECONDS = env_int("DICOM_TIMEOUT_SECONDS", 30)
# Days a received study stays in the clinic's inbox after its last instance (then crypto-shredded;
# a patient's own scan made from it by a hand-off follows the retention policy instead).
DICOM_INBOX_DAYS = env_int("DICOM_INBOX_DAYS", 30)
PATIENT_STORAGE_QUOTA_BYTES = env_int("PATIENT_STORAGE_QUOTA_BYTES", 20 * 1024**3)

# --- The vault: envelope encryption of every stored object.
VAULT_BACKEND = env("VAULT_BACKEND", "local")
VAULT_BLOB_DIR = Path(env("VAULT_BLOB_DIR", str(DATA_DIR / "blobs"))).resolve()
VAULT_KEYRING = env("VAULT_KEYRING")  # JSON; or VAULT_KEYRING_FILE
VAULT_KEYRING_PATH = Path(
    os.environ.get("VAULT_KEYRING_FILE") or str(KEYS_DIR / "vault-keyring.json")
).resolve()
VAULT_SEGMENT_SIZE = env_int("VAULT_SEGMENT_SIZE", 1024 * 1024)
# VAULT_BACKEND=s3: any S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph). Only
# ciphertext is ever written there.
VAULT_S3_ENDPOINT_URL = env("VAULT_S3_ENDPOINT_URL")  # empty: AWS
VAULT_S3_BUCKET = env("VAULT_S3_BUCKET")
VAULT_S3_ACCESS_KEY = env("VAULT_S3_ACCESS_KEY")  # empty: boto3's credential chain
VAULT_S3_SECRET_KEY = env("VAULT_S3_SECRET_KEY")
VAULT_S3_REGION = env("VAULT_S3_REGION", "us-east-1")
VAULT_S3_PREFIX = env("VAULT_S3_PREFIX", "blobs/")
VAULT_S3_VERIFY_TLS = env_bool("VAULT_S3_VERIFY_TLS", True)
# Processes that never open the vault (beat, migrations) run without the keyring.
VAULT_KEYRING_REQUIRED = env_bool("VAULT_KEYRING_REQUIRED", True)
if (
    PRODUCTION
    and VAULT_KEYRING_REQUIRED
    and not VAULT_KEYRING
    and not os.environ.get("VAULT_KEYRING_FILE")
):
    raise ImproperlyConfigured("VAULT_KEYRING or VAULT_KEYRING_FILE must be set in production.")

# --- Celery
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
CELERY_QUEUE_DIR = Path(env("CELERY_QUEUE_DIR", str(DATA_DIR / "celery"))).resolve()
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object]
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        # kombu's default is "control" in the working folder, outside DATA_DIR.
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
    }
else:
    # acks_late on Redis: a message must stay invisible longer than the longest task runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200),
        # A broker that accepts connections but never answers must not hang an upload.
        "socket_timeout": 3,
        "socket_connect_timeout": 3,
    }
# Publishing gives up quickly: the scan is stored and the sweeper enqueues it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "scans.tasks.process_scan": {"queue": "deid"},
    "scans.tasks.process_chunk": {"queue": "deid"},
    "scans.tasks.send_consent": {"queue": "send"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 60)
SWEEP_STUCK_AFTER_SECONDS = env_int("SWEEP_STUCK_AFTER_SECONDS", 900)
SWEEP_MAX_ATTEMPTS = env_int("SWEEP_MAX_ATTEMPTS", 5)
DEID_LEASE_SECONDS = env_int("DEID_LEASE_SECONDS", 300)
# A large study is cut into chunks of at most this many images (by series, then slice range),
# de-identified in parallel by every deid worker (scans.planning).
DEID_CHUNK_IMAGES = env_int("DEID_CHUNK_IMAGES", 32)
# Fair share between patients (scans.fairshare): chunks one patient may have queued or running
# at once, and the images and worker CPU seconds one patient may use per hour before the rest of
# their work waits (accepted, shown as waiting, continued by itself).
DEID_PATIENT_CHUNKS_IN_FLIGHT = env_int("DEID_PATIENT_CHUNKS_IN_FLIGHT", 2)
DEID_PATIENT_IMAGES_PER_HOUR = env_int("DEID_PATIENT_IMAGES_PER_HOUR", 10000)
DEID_PATIENT_CPU_SECONDS_PER_HOUR = env_int("DEID_PATIENT_CPU_SECONDS_PER_HOUR", 1800)

# --- De-identification
DEID_KEY_PATH = Path(env("DEID_KEY_PATH", str(KEYS_DIR / "deid.key"))).resolve()
ATTESTATION_KEY_PATH = Path(
    env("ATTESTATION_KEY_PATH", str(KEYS_DIR / "attestation.key"))
).resolve()
DEID_RETAIN_DATES = env_bool("DEID_RETAIN_DATES", False)
DEID_CLEAN_DESCRIPTORS = env_bool("DEID_CLEAN_DESCRIPTORS", False)
# One image is held in memory while it is cleaned; anything larger is rejected, not processed.
DEID_MAX_IMAGE_BYTES = env_int("DEID_MAX_IMAGE_BYTES", 1024**3)
DEID_EXEMPT_MODALITIES = frozenset(m.upper() for m in env_list("DEID_EXEMPT_MODALITIES"))

# --- Consent and sending
CONSENT_TTL_SECONDS = env_int("CONSENT_TTL_SECONDS", 24 * 3600)
# A consent still "sending" after this long lost its sender; it is settled as outcome_unknown.
SEND_STUCK_AFTER_SECONDS = env_int("SEND_STUCK_AFTER_SECONDS", 1800)

# An AI answer longer than this is shown as plain text instead of rendered Markdown.
ANSWER_RENDER_MAX_BYTES = env_int("ANSWER_RENDER_MAX_BYTES", 32 * 1024)
# A reader's views of one answer within this many seconds make one audit entry.
ANSWER_VIEW_AUDIT_SECONDS = env_int("ANSWER_VIEW_AUDIT_SECONDS", 300)

# --- Audit log
AUDIT_SIGNING_KEY = env("AUDIT_SIGNING_KEY")  # PEM text; overrides the key file when set
AUDIT_SIGNING_KEY_PATH = Path(
    env("AUDIT_SIGNING_KEY_PATH", str(KEYS_DIR / "audit-signing.pem"))
).resolve()
# Processes that only check signatures (web) get the public key alone.
AUDIT_PUBLIC_KEY_PATH = Path(
    env("AUDIT_PUBLIC_KEY_PATH", str(KEYS_DIR / "audit-signing.pub.pem"))
).resolve()

# --- Periodic jobs (Celery beat)
AUDIT_SIGN_INTERVAL_SECONDS = env_int("AUDIT_SIGN_INTERVAL_SECONDS", 300)
HEARTBEAT_INTERVAL_SECONDS = env_int("HEARTBEAT_INTERVAL_SECONDS", 60)
RETENTION_INTERVAL_SECONDS = env_int("RETENTION_INTERVAL_SECONDS", 3600)
AUDIT_VERIFY_INTERVAL_SECONDS = env_int("AUDIT_VERIFY_INTERVAL_SECONDS", 3600)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-scans": {
        "task": "scans.tasks.sweep_stuck_scans",
        "schedule": SWEEP_INTERVAL_SECONDS,
    },
    "sign-audit-tree-head": {
        "task": "scans.tasks.sign_audit_tree_head",
        "schedule": AUDIT_SIGN_INTERVAL_SECONDS,
    },
    "apply-retention": {
        "task": "scans.tasks.apply_retention",
        "schedule": RETENTION_INTERVAL_SECONDS,
    },
    "verify-audit-chain": {
        "task": "scans.tasks.verify_audit_chain",
        "schedule": AUDIT_VERIFY_INTERVAL_SECONDS,
    },
    "expire-pacs-inbox": {
        "task": "clinic.pacs.tasks.expire_inbox",
        "schedule": RETENTION_INTERVAL_SECONDS,
    },
    # One heartbeat per queue, taken by whichever worker serves it; unconsumed ones expire.
    **{
        f"heartbeat-{queue}": {
            "task": "scans.tasks.record_heartbeat",
            "schedule": HEARTBEAT_INTERVAL_SECONDS,
            "args": [queue],
            "options": {"queue": queue, "expires": HEARTBEAT_INTERVAL_SECONDS},
        }
        for queue in ("deid", "send", "default")
    },
}

# --- Accounts (django-allauth)
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "accounts.adapters.GatewayAccountAdapter"
# Keyed by the client's real address (gateway.client_address) and by the account ("key"): a
# flood of failures from one address blocks that address, never the clinic behind its proxy.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/5m/ip,5/5m/key",
    "signup": "10/h/ip",
    "confirm_email": "3/m/key",
    "reset_password": "5/m/ip,3/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
}
# Codes typed into a form instead of keys in links: nothing secret is ever in a URL path (so
# never in an access log), each code is single-use, expires, and allows few attempts.
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT = 15 * 60
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = True
ACCOUNT_PASSWORD_RESET_BY_CODE_TIMEOUT = 15 * 60
# One address per account; a new one replaces it only once verified, after re-authentication,
# and the old address is told (a takeover cannot add an address and quietly drop the owner's).
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_MAX_EMAIL_ADDRESSES = 2
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env_int("REAUTHENTICATION_TIMEOUT", 300)
ACCOUNT_EMAIL_NOTIFICATIONS = True
SESSION_ENGINE = "accounts.sessions"
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_USER_DISPLAY = "accounts.adapters.user_display"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# TOTP secrets and the recovery codes' seed are sealed with the vault's keyring (gateway.mfa).
MFA_ADAPTER = "gateway.mfa.SealingMFAAdapter"
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", "Scan gateway")
# Accept the code of the neighbouring 30 s step too (RFC 6238 §5.2: clock drift, slow typing).
MFA_TOTP_TOLERANCE = 1
# How long a clinic invitation's code can be used (once) to set the password.
INVITATION_TTL_SECONDS = env_int("INVITATION_TTL_SECONDS", 48 * 3600)
# Personal API tokens: their lifetime, and requests per minute per token (429 past it).
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90)
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600)
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(DATA_DIR / "mail")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "gateway@localhost")

# --- Security headers and the Content-Security-Policy: everything from the gateway itself.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "gateway.errors.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin, not no-referrer: browsers then send "Origin: null" on form posts, failing CSRF.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a hard-to-undo promise about every subdomain; the clinic opts in.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logging: ids and hashes only. Nothing here formats request bodies or file names.
# LOG_FORMAT=json (the container images): one JSON object per line on stdout.
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_FORMAT = env("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'")
LOGGING = logging_config(LOG_LEVEL, LOG_FORMAT)
