"""Human-readable text: something visible, and no controls or bidirectional overrides in names."""

import unicodedata
from typing import Annotated

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter, ValidationError

from app.core.text import BIDI_CONTROLS, HumanText, visible
from tests.factories import assert_problem, member, need_body, offer_body, organization

NAME = TypeAdapter(Annotated[str, StringConstraints(min_length=1, max_length=200), HumanText()])
PROSE = TypeAdapter(Annotated[str, StringConstraints(max_length=4000), HumanText(multiline=True)])

INVISIBLE = [
    " ",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00a0",
    "\u3000",
    "\u3164",
    "\u2800",
    "\u0301",
]
SPOOFING = ["\u202e", "\u202d", "\u202a", "\u2066", "\u2067", "\u2068", "\u2069"]
CONTROLS = ["\x07", "\x1b", "\x7f", "\x85", "\u2028"]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_a_name_is_refused_cleanly_or_holds_something_visible_and_nothing_spoofing(text: str) -> None:
    try:
        name = NAME.validate_python(text)
    except ValidationError as exc:
        refused = {e["type"] for e in exc.errors()}
    else:
        refused = set()
    if refused:
        assert refused <= {"rule", "string_too_short", "string_too_long"}
        return
    assert any(visible(c) for c in name)
    assert name == name.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in BIDI_CONTROLS for c in name)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_prose_is_refused_cleanly_or_holds_something_visible_and_only_tabs_and_newlines(text: str) -> None:
    try:
        prose = PROSE.validate_python(text)
    except ValidationError as exc:
        refused = {e["type"] for e in exc.errors()}
    else:
        refused = set()
    if refused:
        assert refused <= {"rule", "string_too_long"}
        return
    assert any(visible(c) for c in prose)
    assert all(c in "\t\n\r" or unicodedata.category(c) not in ("Cc", "Cs") for c in prose)


# Letters, digits, punctuation and symbols of any script, padded with anything invisible.
drawn = st.characters(categories=["Lu", "Ll", "Lo", "Nd", "Po", "Sm", "So"]).filter(visible)


@settings(max_examples=300, deadline=None)
@given(st.lists(drawn, min_size=1, max_size=20), st.lists(st.sampled_from(INVISIBLE), max_size=4))
def test_visible_text_with_invisible_padding_is_kept(letters: list[str], padding: list[str]) -> None:
    text = "".join(padding) + "".join(letters) + "".join(padding)
    assert NAME.validate_python(text).strip() == NAME.validate_python(text)
    assert "".join(letters) in PROSE.validate_python(text)


@pytest.mark.parametrize("blank", INVISIBLE)
def test_only_invisible_characters_are_refused(blank: str) -> None:
    for adapter in (NAME, PROSE):
        with pytest.raises(ValidationError, match="visible character"):
            adapter.validate_python(blank * 3)


@pytest.mark.parametrize("char", SPOOFING + CONTROLS)
def test_names_refuse_controls_and_bidi_overrides_naming_the_code_point(char: str) -> None:
    with pytest.raises(ValidationError, match=f"U\\+{ord(char):04X}"):
        NAME.validate_python(f"Sam{char}Example")


def test_prose_keeps_newlines_and_tabs_and_allows_mixed_direction() -> None:
    text = "Line one\n\tLine two\r\n\u0634\u0643\u0631\u0627 \u2067\u0639\u0631\u0628\u064a\u2069 and English"
    assert PROSE.validate_python(f"  {text}  ") == text
    with pytest.raises(ValidationError, match="U\\+0007"):
        PROSE.validate_python("Ring\x07 the bell")


async def test_every_readable_field_refuses_invisible_or_spoofing_text(client: httpx.AsyncClient) -> None:
    """One field per kind of resource, through the API: 422 naming the field, nothing created."""
    r = await client.post(
        "/v1/members",
        json={"email": "zw@example.org", "password": "long enough pw", "display_name": "\u200b"},
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "display_name"]
    r = await client.post(
        "/v1/members",
        json={"email": "rlo@example.org", "password": "long enough pw", "display_name": "Sam\u202eelgoog"},
    )
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["loc"] == ["body", "display_name"]
    assert "bidirectional" in problem["errors"][0]["msg"]
    who = await member(client)
    assert_problem(
        await client.patch("/v1/members/me", json={"display_name": "\u3164"}, headers=who.headers), 422
    )
    org = await organization(client, who)
    cases = [
        ("/v1/needs", need_body(title="\u200b\u200b"), ["body", "title"]),
        ("/v1/needs", need_body(description=" \u2060 "), ["body", "description"]),
        ("/v1/needs", need_body(contact={"name": "\u202eAlex", "phone": "+44 20 7946 0123"}), None),
        ("/v1/offers", offer_body(note="\u00a0"), ["body", "note"]),
        ("/v1/organizations", {"name": "\u2800"}, ["body", "name"]),
        ("/v1/organizations", {"name": "Food\x1bbank"}, ["body", "name"]),
        (
            f"/v1/organizations/{org['id']}/api-keys",
            {"name": "\u200d", "scopes": ["needs:read"]},
            ["body", "name"],
        ),
    ]
    for path, body, loc in cases:
        problem = assert_problem(await client.post(path, json=body, headers=who.headers), 422)
        assert problem["errors"][0]["loc"] == (loc or ["body", "contact", "name"]), path
    assert (await client.get("/v1/needs", headers=who.headers)).json()["items"] == []
    kept = await client.post(
        "/v1/needs",
        json=need_body(description="Bread\n\tMilk", title="Ayuda \u05e9\u05dc\u05d5\u05dd"),
        headers=who.headers,
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["description"] == "Bread\n\tMilk"
