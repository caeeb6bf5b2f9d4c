"""Account mail: plain text and HTML rendered from templates, one folder per language."""

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"
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

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a missing value is an error, never an empty gap in a mail
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, *, language: str = DEFAULT_LANGUAGE, **context: object) -> Rendered:
    """`kind`'s subject and bodies in `language` (English when there is none in it).

    Context holds only what the recipient may read: their own name, a one-time link, and in a
    notice of a change of address that address masked (`masked`)."""
    if language not in SUBJECTS:
        language = DEFAULT_LANGUAGE
    return Rendered(
        subject=SUBJECTS[language][kind],
        text=_env.get_template(f"{language}/{kind}.txt").render(**context),
        html=_env.get_template(f"{language}/{kind}.html").render(**context),
    )


def masked(address: str) -> str:
    """`s***@e***.org` for `sam@example.org`: enough for the owner to recognise an address,
    too little for anyone else to write to it."""
    local, _, domain = address.rpartition("@")
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    return f"{local[:1]}***@{host[:1]}***{dot}{tld}"
