"""The words a patient agrees to, in the language they read them, and their version.

The consent text is a legal record, not interface wording: each language's text is written out
here in full (never through the translation catalogues, which could change it silently), carries
its own version, and is hashed exactly like the English one (SHA-256 of its UTF-8 bytes). Any
change of wording in a language needs a new version for that language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from forwarding.models import Endpoint

CONSENT_TEXT_VERSION = "2026-11-2"
# The sender's retries after a timeout or a temporary error, disclosed in the consent text.
RETRIES_DISCLOSED = 3

NO_DATA_USE_NOTE = (
    "The operator of this gateway has not described how this AI service handles what it receives."
)


@dataclass(frozen=True)
class ConsentWording:
    """One language's consent text: its version, the phrases that vary, and the body."""

    version: str
    one_image: str
    many_images: str  # {count}
    no_data_use_note: str
    body: str  # {version} {name} {host} {model} {protocol} {config} {images} {note} {when}
    #            {retries} {manifest}


ENGLISH = ConsentWording(
    version=CONSENT_TEXT_VERSION,
    one_image="1 de-identified image",
    many_images="{count} de-identified images",
    no_data_use_note=NO_DATA_USE_NOTE,
    body=(
        "Consent to ask an AI service about my scan "
        "(consent text version {version})\n"
        "\n"
        'I agree that this gateway sends, once, to the AI service "{name}" at '
        "{host} (model {model}, protocol {protocol}, "
        "configuration version {config}):\n"
        "- {images} from my scan, exactly as they were shown to me;\n"
        "- my question, exactly as I wrote it.\n"
        "\n"
        "How this service handles what it receives: {note}\n"
        "\n"
        "This consent covers ONE send of these images and this question to this endpoint, and "
        "nothing else: not other images, not another service, not a second send. I can withdraw "
        "it until sending starts. If it has not been used by "
        "{when}, it expires and nothing is sent.\n"
        "\n"
        "If the service does not answer in time or reports a temporary error, the gateway repeats "
        "this same request, unchanged, at most {retries} more times, so the service may "
        "receive it more than once. Nothing is sent after an answer arrives.\n"
        "\n"
        "The answer comes from an AI model. It is not a diagnosis and does not replace a doctor.\n"
        "\nReference of the exact content: {manifest}\n"
    ),
)

GERMAN = ConsentWording(
    version="2026-12-1-de",
    one_image="1 de-identifiziertes Bild",
    many_images="{count} de-identifizierte Bilder",
    no_data_use_note=(
        "Der Betreiber dieses Gateways hat nicht beschrieben, wie dieser KI-Dienst mit den "
        "erhaltenen Daten umgeht."
    ),
    body=(
        "Einwilligung, einen KI-Dienst zu meiner Aufnahme zu befragen "
        "(Version des Einwilligungstextes {version})\n"
        "\n"
        'Ich willige ein, dass dieses Gateway einmalig an den KI-Dienst „{name}“ unter '
        "{host} (Modell {model}, Protokoll {protocol}, "
        "Konfigurationsversion {config}) Folgendes sendet:\n"
        "- {images} aus meiner Aufnahme, genau so, wie sie mir gezeigt wurden;\n"
        "- meine Frage, genau so, wie ich sie geschrieben habe.\n"
        "\n"
        "Wie dieser Dienst mit den erhaltenen Daten umgeht: {note}\n"
        "\n"
        "Diese Einwilligung gilt für EINE Sendung dieser Bilder und dieser Frage an diesen "
        "Endpunkt und für nichts anderes: nicht für andere Bilder, nicht für einen anderen Dienst, "
        "nicht für eine zweite Sendung. Ich kann sie widerrufen, bis das Senden beginnt. Wird sie "
        "bis {when} nicht genutzt, verfällt sie und es wird nichts gesendet.\n"
        "\n"
        "Antwortet der Dienst nicht rechtzeitig oder meldet er einen vorübergehenden Fehler, "
        "wiederholt das Gateway genau diese Anfrage unverändert höchstens {retries} weitere Male; "
        "der Dienst kann sie daher mehr als einmal erhalten. Nach Eingang einer Antwort wird "
        "nichts mehr gesendet.\n"
        "\n"
        "Die Antwort stammt von einem KI-Modell. Sie ist keine Diagnose und ersetzt keinen Arzt "
        "und keine Ärztin.\n"
        "\nReferenz des genauen Inhalts: {manifest}\n"
    ),
)

FRENCH = ConsentWording(
    version="2026-12-1-fr",
    one_image="1 image désidentifiée",
    many_images="{count} images désidentifiées",
    no_data_use_note=(
        "L'exploitant de cette passerelle n'a pas décrit comment ce service d'IA traite ce qu'il "
        "reçoit."
    ),
    body=(
        "Consentement pour interroger un service d'IA au sujet de mon examen d'imagerie "
        "(version du texte de consentement {version})\n"
        "\n"
        "J'accepte que cette passerelle envoie, une seule fois, au service d'IA « {name} » à "
        "l'adresse {host} (modèle {model}, protocole {protocol}, "
        "version de configuration {config}) :\n"
        "- {images} de mon examen, exactement telles qu'elles m'ont été montrées ;\n"
        "- ma question, exactement telle que je l'ai écrite.\n"
        "\n"
        "Comment ce service traite ce qu'il reçoit : {note}\n"
        "\n"
        "Ce consentement couvre UN SEUL envoi de ces images et de cette question à ce service, et "
        "rien d'autre : ni d'autres images, ni un autre service, ni un second envoi. Je peux le "
        "retirer jusqu'au début de l'envoi. S'il n'a pas été utilisé le {when} au plus tard, il "
        "expire et rien n'est envoyé.\n"
        "\n"
        "Si le service ne répond pas à temps ou signale une erreur temporaire, la passerelle "
        "renouvelle cette même demande, sans modification, au plus {retries} fois de plus ; le "
        "service peut donc la recevoir plus d'une fois. Rien n'est envoyé après l'arrivée d'une "
        "réponse.\n"
        "\n"
        "La réponse provient d'un modèle d'IA. Ce n'est pas un diagnostic et elle ne remplace pas "
        "un médecin.\n"
        "\nRéférence du contenu exact : {manifest}\n"
    ),
)

SPANISH = ConsentWording(
    version="2026-12-1-es",
    one_image="1 imagen desidentificada",
    many_images="{count} imágenes desidentificadas",
    no_data_use_note=(
        "El responsable de esta pasarela no ha descrito cómo trata este servicio de IA lo que "
        "recibe."
    ),
    body=(
        "Consentimiento para consultar a un servicio de IA sobre mi estudio de imagen "
        "(versión del texto de consentimiento {version})\n"
        "\n"
        "Acepto que esta pasarela envíe, una sola vez, al servicio de IA «{name}» en "
        "{host} (modelo {model}, protocolo {protocol}, "
        "versión de configuración {config}):\n"
        "- {images} de mi estudio, exactamente como se me mostraron;\n"
        "- mi pregunta, exactamente como la escribí.\n"
        "\n"
        "Cómo trata este servicio lo que recibe: {note}\n"
        "\n"
        "Este consentimiento cubre UN SOLO envío de estas imágenes y esta pregunta a este "
        "servicio, y nada más: ni otras imágenes, ni otro servicio, ni un segundo envío. Puedo "
        "retirarlo hasta que empiece el envío. Si no se ha utilizado antes del {when}, caduca y "
        "no se envía nada.\n"
        "\n"
        "Si el servicio no responde a tiempo o informa de un error temporal, la pasarela repite "
        "esta misma solicitud, sin cambios, como máximo {retries} veces más, por lo que el "
        "servicio puede recibirla más de una vez. No se envía nada después de recibir una "
        "respuesta.\n"
        "\n"
        "La respuesta procede de un modelo de IA. No es un diagnóstico y no sustituye a un "
        "médico.\n"
        "\nReferencia del contenido exacto: {manifest}\n"
    ),
)

CONSENT_WORDINGS: dict[str, ConsentWording] = {
    "en": ENGLISH,
    "de": GERMAN,
    "fr": FRENCH,
    "es": SPANISH,
}


def consent_language(code: str | None) -> str:
    """The consent text's language for a page language ("de-at" reads German); English when
    there is no text in that language."""
    base = (code or "en").lower().split("-")[0]
    return base if base in CONSENT_WORDINGS else "en"


def consent_text_version(language: str) -> str:
    return CONSENT_WORDINGS[consent_language(language)].version


def render_consent_text(
    endpoint: Endpoint,
    *,
    image_count: int,
    manifest_sha256: str,
    expires_at: datetime,
    language: str = "en",
) -> str:
    """The words the patient agrees to, in ``language``. Any change of wording needs a new
    version of that language's text. The expiry stays in UTC (named), as in every record."""
    wording = CONSENT_WORDINGS[consent_language(language)]
    if image_count == 1:
        images = wording.one_image
    else:
        images = wording.many_images.format(count=image_count)
    custom_note = endpoint.data_use_note.strip()
    return wording.body.format(
        version=wording.version,
        name=endpoint.name,
        host=endpoint.host,
        model=endpoint.model,
        protocol=endpoint.protocol,
        config=endpoint.config_version,
        images=images,
        note=custom_note or wording.no_data_use_note,
        when=expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        retries=RETRIES_DISCLOSED,
        manifest=manifest_sha256,
    )
