"""Account mail: plain text and HTML rendered from templates, one folder per language."""

from pathlib import Path

from app.core.mailtemplates import DEFAULT_LANGUAGE, MailTemplates, Rendered

TEMPLATES = MailTemplates(Path(__file__).parent / "templates")
# Subjects beside the templates' language: a new language adds a folder and a line here.
SUBJECTS = {
    "en": {
        "password_reset": "Reset your Mutual Aid password",
        "password_reset_unknown": "A password reset was asked for this address",
        "verify_email": "Confirm your email address for Mutual Aid",
    }
}

__all__ = ["DEFAULT_LANGUAGE", "SUBJECTS", "Rendered", "render"]


def render(kind: str, *, language: str = DEFAULT_LANGUAGE, **context: object) -> Rendered:
    """`kind`'s subject and bodies in `language` (English when there is none in it).

    Context holds only what the recipient may read: their own name and a one-time link."""
    if language not in SUBJECTS:
        language = DEFAULT_LANGUAGE
    return TEMPLATES.render(kind, language=language, subject=SUBJECTS[language][kind], **context)
