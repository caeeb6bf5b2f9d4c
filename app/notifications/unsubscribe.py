"""One-click unsubscribe tokens (RFC 8058) for notification mail: signed, so nothing is stored.

A token names a member and carries an HMAC-SHA256 over that id, keyed by a key derived from
JWT_SECRET for this purpose alone. It never expires: a mail client may offer the unsubscribe
button long after the mail came, and all a token can do is turn that member's notification
mail off. Rotating JWT_SECRET voids the links in mail already sent (the settings page still works).
"""

import base64
import binascii
import hashlib
import hmac
import uuid

_PURPOSE = b"mutual-aid notification mail one-click unsubscribe v1"
_ID_BYTES = 16
_MAC_BYTES = 32


def _key(secret: str) -> bytes:
    # A key of its own, so a token can never stand for anything signed with the secret itself.
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _mac(member_id: uuid.UUID, secret: str) -> bytes:
    return hmac.new(_key(secret), member_id.bytes, hashlib.sha256).digest()


def token_for(member_id: uuid.UUID, secret: str) -> str:
    """64 URL-safe characters: the member's id and its MAC, base64url without padding."""
    raw = member_id.bytes + _mac(member_id, secret)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def member_of(token: str, secret: str) -> uuid.UUID | None:
    """The member a genuine token names; None for anything else (compared in constant time)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _ID_BYTES + _MAC_BYTES:
        return None
    member_id = uuid.UUID(bytes=raw[:_ID_BYTES])
    return member_id if hmac.compare_digest(raw[_ID_BYTES:], _mac(member_id, secret)) else None
