"""A Python client generated from the app's OpenAPI document works: it generates with no
warning, imports, and walks a request for help from sign-up to the volunteer reading the contact.

The client is generated once per run into a temporary folder with openapi-python-client (what a
partner would run against `/openapi.json`) and talks to the app through httpx's ASGI transport.
"""

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import PASSWORD, need_body, offer_body

# Generating the client takes seconds: started early (tests/conftest.py).
pytestmark = pytest.mark.slow

PACKAGE = "mutual_aid_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("generated")
    document = folder / "openapi.json"
    document.write_text(json.dumps(create_app(make_settings("sqlite+aiosqlite://")).openapi()))
    bin_dir = str(Path(sys.executable).parent)  # ruff, which the generator runs on its output
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document)]
    run = subprocess.run(
        [*command, "--meta", "none", "--output-path", str(folder / PACKAGE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


class Api:
    """The generated package's operations and models, by name."""

    def __init__(self, package: ModuleType, application: FastAPI) -> None:
        self.package = package
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)

    def op(self, tag: str, name: str) -> Any:
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")

    def model(self, name: str, data: dict[str, Any]) -> Any:
        return getattr(self.models, name).from_dict(data)

    def anonymous(self) -> Any:
        return self.package.Client(base_url="http://test", httpx_args={"transport": self.transport})

    async def sign_up(self, email: str, name: str) -> Any:
        body = {"email": email, "password": PASSWORD, "display_name": name, "phone": "+44 7700 900123"}
        created = await self.op("members", "create_member").asyncio_detailed(
            client=self.anonymous(), body=self.model("MemberCreate", body)
        )
        assert created.status_code == 201, created.content
        form = self.models.LoginForm(username=email, password=PASSWORD)
        token = await self.op("members", "login").asyncio_detailed(client=self.anonymous(), body=form)
        assert token.status_code == 200, token.content
        return self.package.AuthenticatedClient(
            base_url="http://test",
            token=token.parsed.access_token,
            httpx_args={"transport": self.transport},
        )


async def test_a_generated_client_walks_a_need_from_sign_up_to_the_contact(
    generated: ModuleType, application: FastAPI
) -> None:
    api = Api(generated, application)
    requester = await api.sign_up("requester.gen@example.org", "Robin Example")
    volunteer = await api.sign_up("volunteer.gen@example.org", "Sam Example")

    need = await api.op("needs", "create_need").asyncio_detailed(
        client=requester, body=api.model("NeedCreate", need_body(location={"lat": 51.501, "lon": -0.121}))
    )
    assert need.status_code == 201, need.content
    need_id = need.parsed.id
    assert need.headers["Location"] == f"/v1/needs/{need_id}"
    assert need.headers["ETag"]
    assert need.headers["X-Request-ID"]
    assert int(need.headers["RateLimit-Remaining"]) >= 0

    offer = await api.op("offers", "create_offer").asyncio_detailed(
        client=volunteer, body=api.model("OfferCreate", offer_body())
    )
    assert offer.status_code == 201, offer.content
    assert offer.parsed.timezone == "Europe/London"

    # The volunteer claims the need; unless the need approves claims automatically, its owner accepts.
    claim = await api.op("matching", "create_match").asyncio_detailed(
        client=volunteer, body=api.models.MatchCreate(need_id=need_id, offer_id=offer.parsed.id)
    )
    assert claim.status_code == 201, claim.content
    match = claim.parsed
    if match.status == "proposed":
        accepted = await api.op("matching", "accept_match").asyncio_detailed(
            client=requester, match_id=match.id, if_match=claim.headers["ETag"]
        )
        assert accepted.status_code == 200, accepted.content
        match = accepted.parsed
    assert match.status == "accepted"

    seen = await api.op("needs", "get_need").asyncio_detailed(client=volunteer, need_id=need_id)
    assert seen.status_code == 200, seen.content
    assert seen.parsed.view == "participant"
    assert seen.parsed.contact.name == "Alex Example"
    assert seen.parsed.contact.phone == "+44 20 7946 0123"


async def test_a_generated_client_reads_problems_and_public_needs_without_a_token(
    generated: ModuleType, application: FastAPI
) -> None:
    api = Api(generated, application)
    volunteer = await api.sign_up("zone.gen@example.org", "Kim Example")
    refused = await api.op("offers", "create_offer").asyncio_detailed(
        client=volunteer, body=api.model("OfferCreate", offer_body(timezone="Mars/Olympus_Mons"))
    )
    assert refused.status_code == 422
    assert refused.parsed.errors[0].loc == ["body", "timezone"]
    assert "not an IANA time zone name" in refused.parsed.errors[0].msg

    listed = await api.op("needs", "list_needs").asyncio_detailed(client=api.anonymous())
    assert listed.status_code == 200, listed.content
    assert type(listed.parsed).__name__ == "NeedPage"
    assert listed.parsed.items == []


async def test_a_generated_client_refreshes_its_session(generated: ModuleType, application: FastAPI) -> None:
    """Login answers a refresh token too; trading it gives a working pair, and the old one is spent."""
    api = Api(generated, application)
    await api.sign_up("refresh.gen@example.org", "Ari Example")
    form = api.models.LoginForm(username="refresh.gen@example.org", password=PASSWORD)
    login = await api.op("members", "login").asyncio_detailed(client=api.anonymous(), body=form)
    assert login.parsed.refresh_token.startswith("rt_")
    body = api.model("RefreshRequest", {"refresh_token": login.parsed.refresh_token})
    fresh = await api.op("members", "refresh").asyncio_detailed(client=api.anonymous(), body=body)
    assert fresh.status_code == 200, fresh.content
    assert fresh.parsed.refresh_token != login.parsed.refresh_token
    assert fresh.parsed.expires_in == 900
    spent = await api.op("members", "refresh").asyncio_detailed(client=api.anonymous(), body=body)
    assert spent.status_code == 401
