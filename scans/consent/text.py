"""The words a patient agrees to, and their version."""

from __future__ import annotations

from datetime import UTC, datetime

from forwarding.models import Endpoint

CONSENT_TEXT_VERSION = "2026-11-2"
# The sender's retries after a timeout or a temporary error, disclosed in the consent text.
RETRIES_DISCLOSED = 3

NO_DATA_USE_NOTE = (
    "The operator of this gateway has not described how this AI service handles what it receives."
)


def render_consent_text(
    endpoint: Endpoint, *, image_count: int, manifest_sha256: str, expires_at: datetime
) -> str:
    """The words the patient agrees to. Any change of wording needs a new CONSENT_TEXT_VERSION."""
    images = "1 de-identified image" if image_count == 1 else f"{image_count} de-identified images"
    note = endpoint.data_use_note.strip() or NO_DATA_USE_NOTE
    when = expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "Consent to ask an AI service about my scan "
        f"(consent text version {CONSENT_TEXT_VERSION})\n"
        "\n"
        f'I agree that this gateway sends, once, to the AI service "{endpoint.name}" at '
        f"{endpoint.host} (model {endpoint.model}, protocol {endpoint.protocol}, "
        f"configuration version {endpoint.config_version}):\n"
        f"- {images} from my scan, exactly as they were shown to me;\n"
        "- my question, exactly as I wrote it.\n"
        "\n"
        f"How this service handles what it receives: {note}\n"
        "\n"
        "This consent covers ONE send of these images and this question to this endpoint, and "
        "nothing else: not other images, not another service, not a second send. I can withdraw "
        "it until sending starts. If it has not been used by "
        f"{when}, it expires and nothing is sent.\n"
        "\n"
        "If the service does not answer in time or reports a temporary error, the gateway repeats "
        f"this same request, unchanged, at most {RETRIES_DISCLOSED} more times, so the service may "
        "receive it more than once. Nothing is sent after an answer arrives.\n"
        "\n"
        "The answer comes from an AI model. It is not a diagnosis and does not replace a doctor.\n"
        f"\nReference of the exact content: {manifest_sha256}\n"
    )
