"""The OpenAPI document says what the app really answers: clients and contract tests trust it."""

from typing import Any

import httpx

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
ANONYMOUS_OPERATIONS = {
    "create_member",
    "login",
    "list_organizations",
    "get_organization",
    "list_needs",
    "get_need",
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
        "NeedUpdate": {"description", "location", "address", "contact", "window_start", "window_end"},
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
