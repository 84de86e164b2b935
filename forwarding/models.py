"""An AI endpoint: where a patient's de-identified images and question may be sent, and the
limits and wording that go with it.

Change these rows only through ``forwarding.endpoints``: it keeps ``config_version``
honest, and a consent records the version the patient agreed to.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.db import models
from django.utils.translation import gettext_lazy as _

DEFAULT_SYSTEM_PROMPT = (
    "You are helping a patient understand their own medical images. The images were "
    "de-identified before reaching you: names, dates and other identifying details were "
    "removed, and parts of an image may be blanked out. The question comes from the patient, "
    "not from a clinician. Describe what you can see carefully and in plain language, say "
    "clearly what you cannot tell from these images, and do not guess. Your answer is not a "
    "diagnosis and does not replace a doctor: if anything might need attention, encourage the "
    "patient to discuss it with their doctor."
)


def default_system_prompt() -> str:
    # A callable, so improving the wording later does not need a migration.
    return DEFAULT_SYSTEM_PROMPT


class Protocol(models.TextChoices):
    OPENAI = "openai", _("OpenAI-compatible chat completions")
    ANTHROPIC = "anthropic", "Anthropic Messages"
    GEMINI = "gemini", "Google Gemini generateContent"


class Endpoint(models.Model):
    # Changing any of these changes what a patient consents to, so it bumps config_version.
    CONSENT_FIELDS = (
        "protocol",
        "base_url",
        "model",
        "api_key_object",
        "is_local",
        "max_images",
        "max_image_side",
        "max_image_bytes",
        "system_prompt",
        "data_use_note",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    protocol = models.CharField(max_length=16, choices=Protocol.choices)
    base_url = models.CharField(max_length=500)
    model = models.CharField(max_length=200)
    # The vault object holding the sealed API key; the key itself is never stored here.
    api_key_object = models.UUIDField(null=True, blank=True, editable=False)
    timeout_seconds = models.PositiveIntegerField(default=60)
    max_images = models.PositiveIntegerField(default=4)
    max_image_side = models.PositiveIntegerField(default=1568)
    max_image_bytes = models.PositiveIntegerField(default=4 * 1024 * 1024)
    system_prompt = models.TextField(default=default_system_prompt)
    data_use_note = models.TextField(
        blank=True,
        help_text=(
            "Shown to the patient before consent: who runs this AI service, how long it keeps "
            "what it receives, and whether it may train on it."
        ),
    )
    # Allows loopback and private addresses (a model on the gateway's own network).
    is_local = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    config_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.protocol}, {self.host})"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""
