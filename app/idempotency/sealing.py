"""What an Idempotency-Key unlocks: the stored row is found, checked and read only with it.

Some responses carry a secret shown once (an API key, a webhook signing secret), and every
response may carry personal data, so a stored response is AES-256-GCM ciphertext under a key
derived from the client's Idempotency-Key. The database keeps only a keyed hash of that key:
a copy of the table alone opens nothing. Every derivation is also keyed with a server secret,
so even a guessable Idempotency-Key ("order-1") cannot be tried against a stolen table.
"""

import hashlib
import hmac
import os
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class KeyMaterial:
    key_hash: str  # stored: finds the row
    fingerprint_key: bytes  # never stored: fingerprints the request
    cipher_key: bytes  # never stored: seals and opens the response


class Unreadable(Exception):
    """A stored response that does not open with this key (tampered, or a rotated server secret)."""


def server_pepper(secret: str) -> bytes:
    # Its own label, so this use of the server secret can never stand in for another.
    return hmac.new(secret.encode(), b"idempotency-keys", hashlib.sha256).digest()


def derive(pepper: bytes, *, scope: str, key: str) -> KeyMaterial:
    """Three independent values from one (scope, key): HMAC-SHA256 is a PRF, so knowing the
    stored hash tells nothing about the other two."""
    base = scope.encode() + b"\0" + key.encode()

    def prf(label: bytes) -> bytes:
        return hmac.new(pepper, label + b"\0" + base, hashlib.sha256).digest()

    return KeyMaterial(
        key_hash=prf(b"lookup").hex(), fingerprint_key=prf(b"fingerprint"), cipher_key=prf(b"seal")
    )


def fingerprint(material: KeyMaterial, *, method: str, path: str, query: bytes, body: bytes) -> str:
    """Which request the key was first used with. Keyed, because a plain hash of a small body
    (a phone number, an address) could be reversed by guessing."""
    mac = hmac.new(material.fingerprint_key, digestmod=hashlib.sha256)
    for part in (method.encode(), path.encode(), query, body):
        mac.update(len(part).to_bytes(8, "big"))  # lengths first: no two requests frame alike
        mac.update(part)
    return mac.hexdigest()


def _associated(key_hash: str, status_code: int) -> bytes:
    # Bound to its row and status: a blob moved to another row, or a status edited, fails to open.
    return f"{key_hash}:{status_code}".encode()


def seal(material: KeyMaterial, *, status_code: int, headers: Headers, body: bytes) -> bytes:
    plaintext = orjson.dumps(headers) + b"\n" + body  # JSON escapes newlines: the first one splits
    nonce = os.urandom(NONCE_BYTES)
    aad = _associated(material.key_hash, status_code)
    return nonce + AESGCM(material.cipher_key).encrypt(nonce, plaintext, aad)


def unseal(material: KeyMaterial, *, status_code: int, blob: bytes) -> tuple[Headers, bytes]:
    nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        plaintext = AESGCM(material.cipher_key).decrypt(
            nonce, ciphertext, _associated(material.key_hash, status_code)
        )
    except InvalidTag:
        raise Unreadable("the stored response does not open with this key") from None
    raw_headers, body = plaintext.split(b"\n", 1)
    return [(str(name), str(value)) for name, value in orjson.loads(raw_headers)], body
