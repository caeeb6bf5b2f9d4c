"""Mail rendered from templates, plain text and HTML, one folder per language (`en/`, `es/`...)."""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MailTemplates:
    """`<folder>/<language>/<name>.txt` and `.html`; HTML is autoescaped, and a value the
    template names but the context lacks is an error, never an empty gap in a mail."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._env = Environment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def languages(self) -> frozenset[str]:
        return frozenset(p.name for p in self.folder.iterdir() if p.is_dir())

    def language_for(self, preferred: Iterable[str]) -> str:
        """The first of `preferred` (ISO 639-1 codes, in the member's order) that has templates;
        English when none has."""
        have = self.languages()
        return next((code for code in preferred if code in have), DEFAULT_LANGUAGE)

    def render(self, template: str, /, *, language: str, subject: str, **context: object) -> Rendered:
        """`template`'s two bodies in `language` (English when it has none), with `context`."""
        if language not in self.languages():
            language = DEFAULT_LANGUAGE
        return Rendered(
            subject=subject,
            text=self._env.get_template(f"{language}/{template}.txt").render(**context),
            html=self._env.get_template(f"{language}/{template}.html").render(**context),
        )
