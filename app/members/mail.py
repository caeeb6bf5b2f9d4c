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
        "email_change": "Confirm the new address of your Mutual Aid account",
        "email_change_notice": "Your Mutual Aid account's address is being changed",
    }
}

__all__ = ["DEFAULT_LANGUAGE", "SUBJECTS", "Rendered", "render"]


def render(kind: str, *, language: str = DEFAULT_LANGUAGE, **context: object) -> Rendered:
    """`kind`'s subject and bodies in `language` (English when there is none in it).

    Context holds only what the recipient may read: their own name (None greets no one: mail
    to an address not yet proven carries no text the account's holder wrote), a one-time link,
    and in a notice of a change of address that address masked (`masked`)."""
    if language not in SUBJECTS:
        language = DEFAULT_LANGUAGE
    return TEMPLATES.render(kind, language=language, subject=SUBJECTS[language][kind], **context)


def masked(address: str) -> str:
    """`s***@e***.org` for `sam@example.org`: enough for the owner to recognise an address,
    too little for anyone else to write to it."""
    local, _, domain = address.rpartition("@")
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    return f"{local[:1]}***@{host[:1]}***{dot}{tld}"
