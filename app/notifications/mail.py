"""Notification mail: what a notification says by mail, rendered from templates per language.

Built from the notification's type and `data` alone (ids and public facts: a category, an
urgency, a mode), never from the other side's records, so no name, address, phone, exact
location or message text can reach it. English now; a language adds a folder under templates/
and its entry in PHRASES."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.core.mailtemplates import DEFAULT_LANGUAGE, MailTemplates, Rendered

TEMPLATES = MailTemplates(Path(__file__).parent / "templates")

# Per language: each type's subject and first line; a type not named gets `default`.
PHRASES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "match.proposed": (
            "A new match was proposed to you",
            "A match was proposed to you on Mutual Aid. Open it to accept or decline.",
        ),
        "match.accepted": ("Your match was accepted", "A match of yours was accepted."),
        "match.declined": ("Your match was declined", "A match of yours was declined."),
        "match.cancelled": ("A match was cancelled", "A match of yours was cancelled."),
        "match.completed": ("A match was completed", "A match of yours was marked completed."),
        "message.created": (
            "You have a new message",
            "You have a new message in one of your matches. Open it to read it.",
        ),
        "need.nearby": ("Someone nearby needs help", "A new request for help was posted near you."),
        "report.resolved": ("A report was decided", "A decision was taken on a report."),
        "occurrence.reminder": ("A reminder", "Something you take part in is coming up."),
        "activity.updated": ("An activity changed", "An activity you joined has changed."),
        "default": ("News on Mutual Aid", "Something happened on Mutual Aid that concerns you."),
    }
}
# The public facts a mail may name, with their labels; every other key of `data` is left out.
LABELS: dict[str, dict[str, str]] = {
    "en": {"category": "Category", "urgency": "Urgency", "mode": "Mode", "status": "Status"},
}
# The ids a mail quotes as its reference, in this order.
REFERENCES = ("match_id", "need_id", "activity_id", "report_id")


def _readable(value: str) -> str:
    return value.replace("_", " ")


def render_notification(
    *,
    notification_id: str,
    type: str,
    data: Mapping[str, Any],
    languages: list[str],
    link: str,
    unsubscribe: str,
) -> Rendered:
    """The mail for one notification, in the first of the member's `languages` we have."""
    language = TEMPLATES.language_for(languages)
    if language not in PHRASES:
        language = DEFAULT_LANGUAGE
    phrases = PHRASES[language]
    subject, headline = phrases.get(type, phrases["default"])
    labels = LABELS[language]
    facts = [
        (label, _readable(str(data[key]))) for key, label in labels.items() if isinstance(data.get(key), str)
    ]
    reference = next((str(data[k]) for k in REFERENCES if data.get(k)), notification_id)
    return TEMPLATES.render(
        "notification",
        language=language,
        subject=subject,
        headline=headline,
        facts=facts,
        link=link,
        reference=reference,
        unsubscribe=unsubscribe,
    )


# Per language: the digest's subject (by how many alerts it lists) and first line.
DIGEST_PHRASES: dict[str, tuple[str, str, str]] = {
    "en": (
        "A request for help near you",
        "{count} requests for help near you",
        "Requests for help posted near you on {day} that are still open:",
    ),
}


def render_digest(
    *,
    day: str,
    alerts: Sequence[tuple[Mapping[str, Any], str]],
    languages: list[str],
    link: str,
    unsubscribe: str,
) -> Rendered:
    """The daily digest of `need.nearby` alerts: per alert (its `data`, its link) the public facts
    the single alert's mail names (category, urgency, mode) and nothing else; `day` is the local
    date (ISO 8601) they were posted on, `link` the inbox."""
    language = TEMPLATES.language_for(languages)
    if language not in DIGEST_PHRASES:
        language = DEFAULT_LANGUAGE
    one, many, headline = DIGEST_PHRASES[language]
    labels = LABELS[language]
    items = [
        (
            [
                (label, _readable(str(data[key])))
                for key, label in labels.items()
                if isinstance(data.get(key), str)
            ],
            item_link,
        )
        for data, item_link in alerts
    ]
    return TEMPLATES.render(
        "digest",
        language=language,
        subject=one if len(items) == 1 else many.format(count=len(items)),
        headline=headline.format(day=day),
        items=items,
        link=link,
        unsubscribe=unsubscribe,
    )
