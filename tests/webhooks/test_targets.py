"""Which addresses a webhook may reach, with and without DNS."""

import ipaddress
import socket
from typing import Any

import anyio
import pytest

from app.webhooks.targets import Resolved, TargetRefused, check_host, is_public, literal_address, resolve

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "224.0.0.251",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",  # documentation
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",  # mapped addresses never appear in real DNS answers
    "2002:7f00:1::",  # 6to4 around loopback
    "2002:a00:1::",  # 6to4 around 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 around loopback
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2001:4860:4860::8888"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.org", None),
        ("hooks.example.org", None),
    ],
)
def test_literal_addresses_in_every_spelling(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == address


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "localhost.", "a.b.localhost", "127.1", "[::1]", "10.9.8.7"]
)
def test_check_host_refuses(host: str) -> None:
    with pytest.raises(TargetRefused):
        check_host(host)


@pytest.mark.parametrize(
    "host", ["hooks.example.org", "8.8.8.8", "[2606:4700:4700::1111]", "localhost.example.org"]
)
def test_check_host_accepts(host: str) -> None:
    check_host(host)


def _dns(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> list[str]:
    asked: list[str] = []

    async def fake(name: str, port: int, **kwargs: Any) -> list[Any]:
        asked.append(name)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(anyio, "getaddrinfo", fake)
    return asked


async def test_resolve_pins_the_first_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _dns(monkeypatch, "93.184.215.14", "2606:4700:4700::1111")
    assert await resolve("hooks.example.org", 443, allow_private=False) == Resolved(
        address="93.184.215.14", host="hooks.example.org"
    )
    assert asked == ["hooks.example.org"]


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.1"], ["93.184.215.14", "10.0.0.1"], ["::1"], ["fe80::1%2"], ["::ffff:169.254.169.254"]],
)
async def test_resolve_refuses_a_name_with_any_non_public_address(
    monkeypatch: pytest.MonkeyPatch, answers: list[str]
) -> None:
    _dns(monkeypatch, *answers)
    with pytest.raises(TargetRefused):
        await resolve("rebind.example.org", 443, allow_private=False)
    allowed = await resolve("rebind.example.org", 443, allow_private=True)
    assert ipaddress.ip_address(allowed.address) == ipaddress.ip_address(answers[0].split("%")[0])


async def test_resolve_needs_no_dns_for_literals(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _dns(monkeypatch)
    assert await resolve("[2606:4700:4700::1111]", 443, allow_private=False) == Resolved(
        address="2606:4700:4700::1111", host="2606:4700:4700::1111"
    )
    with pytest.raises(TargetRefused):
        await resolve("127.0.0.1", 80, allow_private=False)
    assert asked == []


async def test_a_name_without_addresses_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _dns(monkeypatch)
    with pytest.raises(OSError, match="no addresses"):
        await resolve("empty.example.org", 443, allow_private=False)
