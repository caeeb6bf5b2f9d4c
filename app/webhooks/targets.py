"""Which addresses a webhook may reach: public ones only, checked on the URL and again after DNS.

Webhook URLs are chosen by callers, so without this the worker would be a way into the
network it runs in (databases, cloud metadata services, admin ports on loopback)."""

import ipaddress
import socket
from dataclasses import dataclass

import anyio

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits; a gateway would forward to it.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class TargetRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def _embedded(address: ipaddress.IPv6Address) -> list[Address]:
    """IPv4 addresses an IPv6 address stands for: mapped, 6to4, Teredo and NAT64 forms."""
    found: list[Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: Address) -> bool:
    """Globally routable unicast, and so is every IPv4 address it embeds."""
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return all(is_public(inner) for inner in _embedded(address))
    return True


def literal_address(host: str) -> Address | None:
    """The address a URL host names without DNS: IPv4 or [IPv6] literals, legacy IPv4 forms too."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        # inet_aton accepts what resolvers do: 127.1, 0x7f.0.0.1, 2130706433.
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def check_host(host: str) -> None:
    """At subscription time: refuse hosts that plainly name a non-public address."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        raise TargetRefused("localhost")
    address = literal_address(name)
    if address is not None and not is_public(address):
        raise TargetRefused(str(address))


@dataclass(frozen=True)
class Resolved:
    address: str  # what to connect to
    host: str  # what the receiver expects in Host and TLS SNI


async def resolve(host: str, port: int, *, allow_private: bool) -> Resolved:
    """At delivery time: the address to connect to, after checking every address the name has.

    The caller connects to exactly this address, so a second lookup (DNS rebinding) cannot
    send the request somewhere that was never checked."""
    bare = host.strip("[]")
    literal = literal_address(bare)
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        infos = await anyio.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OSError("the host name has no addresses")
    # Every one, not just the first: an attacker's name could list a public and a private one.
    if not allow_private and not all(is_public(a) for a in addresses):
        raise TargetRefused(bare)
    return Resolved(address=str(addresses[0]), host=bare)
