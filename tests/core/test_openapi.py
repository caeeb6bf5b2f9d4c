"""The OpenAPI document says what the app really answers: clients and contract tests trust it."""

import json
import re
from typing import Any

import httpx

from tests.factories import PASSWORD, assert_problem, member, offer_body

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
ANONYMOUS_OPERATIONS = {
    "create_member",
    "login",
    # Account recovery: the caller has no access token (it expired, or the password is lost).
    "refresh",
    "request_password_reset",
    "confirm_password_reset",
    "verify_email",
    "list_organizations",
    "get_organization",
    "list_needs",
    "get_need",
    "list_need_occurrences",  # a public need's dates are as public as the need
    "list_activities",
    "get_activity",
    "hsds_organizations",
    "hsds_services",
    # Web Push: a browser needs the key before anyone logs in; a mail's unsubscribe link is
    # its own credential (RFC 8058).
    "read_push_public_key",
    "read_unsubscribe",
    "unsubscribe_from_mail",
    "calendar_feed",  # a calendar app holds no login: the URL's token is the credential
}


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in document["paths"].items() for m, op in ops.items()]


async def test_every_error_response_is_documented_as_problem_json(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    errors = 0
    for _method, _path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"] == PROBLEM, (_method, _path, status)
                errors += 1
    assert errors > 100
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail"}


async def test_every_v1_operation_declares_bad_credentials_rate_limits_and_outages(
    client: httpx.AsyncClient,
) -> None:
    for method, path, operation in _operations(await _document(client)):
        if path.startswith("/v1/"):
            assert {"401", "429", "503"} <= operation["responses"].keys(), (method, path)


async def test_validation_errors_are_declared_only_where_there_is_input(client: httpx.AsyncClient) -> None:
    for method, path, operation in _operations(await _document(client)):
        takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        assert ("422" in operation["responses"]) == takes_input, (method, path)


async def test_only_public_operations_make_the_credential_optional(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    optional = {op["operationId"] for _m, _p, op in _operations(document) if {} in op.get("security", [])}
    assert optional == ANONYMOUS_OPERATIONS
    for _method, _path, operation in _operations(document):
        if operation["operationId"] in ANONYMOUS_OPERATIONS:
            assert operation["security"] == [{"OAuth2PasswordBearer": []}, {"HTTPBearer": []}, {}]


async def test_an_anonymous_operation_still_refuses_a_bad_credential(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/needs", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


async def test_patch_bodies_are_nullable_exactly_where_null_clears_a_field(client: httpx.AsyncClient) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    nullable = {
        name: {p for p, s in schemas[name]["properties"].items() if {"type": "null"} in s.get("anyOf", [])}
        for name in ("MemberUpdate", "NeedUpdate", "OfferUpdate")
    }
    assert nullable == {
        "MemberUpdate": {"phone"},
        "NeedUpdate": {
            *("description", "location", "address", "contact", "window_start", "window_end"),
            *("timezone", "recurrence"),  # null ends a series: the need is one-off again
        },
        "OfferUpdate": {"note"},
    }


def _body_properties(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    content = operation["requestBody"]["content"]
    schema = next(iter(content.values()))["schema"]
    name = schema["$ref"].rpartition("/")[2]
    return set(document["components"]["schemas"][name]["properties"])


async def test_links_name_real_operations_parameters_and_fields(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    by_id = {op["operationId"]: op for _m, _p, op in _operations(document)}
    chains = set()
    for _method, _path, operation in _operations(document):
        for status, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                target = by_id[link["operationId"]]
                declared = {p["name"] for p in target.get("parameters", [])}
                for parameter in link.get("parameters", {}):
                    assert parameter.rpartition(".")[2] in declared, (name, parameter)
                for field in link.get("requestBody", {}):
                    assert field in _body_properties(document, target), (name, field)
                chains.add((operation["operationId"], status, link["operationId"]))
    # The ones a client walks to get help delivered, from a new need or offer to a match.
    assert {
        ("create_need", "201", "need_candidates"),
        ("need_candidates", "200", "create_match"),
        ("create_offer", "201", "offer_opportunities"),
        ("offer_opportunities", "200", "create_match"),
        ("create_match", "201", "accept_match"),
        ("create_match", "201", "complete_match"),
        ("create_organization", "201", "create_api_key"),
        ("create_api_key", "201", "revoke_api_key"),
    } <= chains
    assert len(chains) == 37


async def test_every_schema_has_a_deliberate_name_a_client_can_use(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    names = set(document["components"]["schemas"])
    assert all(re.fullmatch(r"[A-Za-z0-9_]{1,60}", n) for n in names), sorted(names)
    pages = {n for n in names if n.endswith("Page")}
    assert pages == {
        "ActivityPage",
        "HsdsOrganizationPage",
        "HsdsServicePage",
        "ParticipantItemPage",
        "AuditEntryPage",
        "BlockPage",
        "DeliveryPage",
        "MatchPage",
        "NeedPage",
        "NotificationPage",
        "OfferPage",
        "OpportunityPage",
        "OrganizationPage",
        "ReportPage",
        "ReportQueuedPage",
        "SessionPage",
        "MessagePage",
    }
    assert "LoginForm" in names
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs <= names


async def test_a_timezone_is_a_documented_string_checked_by_the_server(client: httpx.AsyncClient) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    for name in ("OfferCreate", "OfferUpdate"):
        timezone = schemas[name]["properties"]["timezone"]
        assert timezone["type"] == "string"
        assert "enum" not in timezone
        assert "IANA time zone" in timezone["description"]
        assert "Europe/London" in timezone["examples"]
    volunteer = await member(client)
    r = await client.post("/v1/offers", json=offer_body(timezone="GMT+0"), headers=volunteer.headers)
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/offers", json=offer_body(timezone="Europe/Atlantis"), headers=volunteer.headers
    )
    problem = assert_problem(r, 422)
    message = "'Europe/Atlantis' is not an IANA time zone name; use one such as 'Europe/London' or 'UTC'"
    assert problem["errors"] == [{"loc": ["body", "timezone"], "msg": message, "type": "rule"}]


def _headers(operation: dict[str, Any], status: str) -> set[str]:
    return set(operation["responses"][status].get("headers", {}))


async def test_the_headers_clients_rely_on_are_declared(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    assert set(document["components"]["headers"]) == {
        "X-Request-ID",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Retry-After",
        "ETag",
        "Location",
    }
    creates = 0
    for method, path, operation in _operations(document):
        for status in operation["responses"]:
            assert "X-Request-ID" in _headers(operation, status), (method, path, status)
            if status in ("429", "503"):
                assert "Retry-After" in _headers(operation, status), (method, path, status)
            if status == "201":
                creates += 1
                assert "Location" in _headers(operation, status), (method, path)
            if path.startswith("/v1/") and (status[0] == "2" or status == "429"):
                assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= _headers(
                    operation, status
                ), (method, path, status)
            stored = operation.get("x-idempotency-key") != "ignored"  # never a login's token
            if method == "POST" and path.startswith("/v1/") and status[0] == "2" and stored:
                assert "Idempotent-Replayed" in _headers(operation, status), (method, path)
    # with create_report, create_activity, join_activity, create_message, create_push_subscription,
    # create_calendar_feed, appoint_coordinator
    assert creates == 15
    by_id = {op["operationId"]: op for _m, _p, op in _operations(document)}
    etagged = {i for i, op in by_id.items() if any("ETag" in _headers(op, s) for s in op["responses"])}
    assert {"get_need", "get_offer", "get_match", "create_need", "update_need", "accept_match"} <= etagged
    assert "list_needs" not in etagged


async def test_every_create_answers_with_the_location_it_declares(client: httpx.AsyncClient) -> None:
    coordinator = await member(client)
    org = await client.post("/v1/organizations", json={"name": "Location Group"}, headers=coordinator.headers)
    assert org.status_code == 201, org.text
    assert org.headers["Location"] == f"/v1/organizations/{org.json()['id']}"
    key = await client.post(
        f"/v1/organizations/{org.json()['id']}/api-keys",
        json={"name": "Partner", "scopes": ["needs:read"]},
        headers=coordinator.headers,
    )
    assert key.status_code == 201, key.text
    assert key.headers["Location"] == f"/v1/organizations/{org.json()['id']}/api-keys/{key.json()['id']}"
    hook = await client.post(
        f"/v1/organizations/{org.json()['id']}/webhooks",
        json={"url": "https://hooks.example.org/aid", "events": ["need.created"]},
        headers=coordinator.headers,
    )
    assert hook.status_code == 201, hook.text
    assert hook.headers["Location"] == f"/v1/organizations/{org.json()['id']}/webhooks/{hook.json()['id']}"
    signed_up = await client.post(
        "/v1/members",
        json={"email": "located@example.org", "password": PASSWORD, "display_name": "Lee Example"},
    )
    assert signed_up.status_code == 201, signed_up.text
    assert signed_up.headers["Location"] == "/v1/members/me"
