"""Settings for the test suite: the real engines (PostgreSQL, Redis) and a private data folder.

Overridable by the same environment variables as the app, so CI can point elsewhere.
"""

import os
import tempfile

# One database per test run, so that runs side by side (and their workers) never collide.
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/gateway_{os.getpid()}")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="gateway-test-"))

from gateway.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STATIC_ROOT = DATA_DIR / "static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Django's test client sends "Host: testserver"; only the tests accept it.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
