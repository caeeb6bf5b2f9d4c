"""Secrets the service must read back (webhook signing secrets, queued mail holding one-time
links), encrypted at rest under `DATA_ENCRYPTION_KEYS`.

Values are Fernet tokens (`cryptography`: AES-128-CBC with HMAC-SHA256, a random IV each time):
a copy of the database alone opens nothing. The keys are a list so they can rotate: the first
seals, every one opens (MultiFernet), and `python -m app secrets rotate` re-seals every stored
value under the first, so the others can then be dropped (docs/data-rights.md, Secrets at rest).

Using it for a new secret column (a push key, a partner's token):

    secret: str = Field(sa_type=Text, sa_column_kwargs={"info": SEALED})
    row.secret = key_ring(settings).seal(plain)      # writing
    plain = key_ring(settings).open(row.secret)      # reading; Unreadable if no key opens it

`SEALED` in the column's `info` is what the rotate command, the migration check and the tests'
table dump look for: a column so marked is re-sealed by rotation with nothing else to register.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.core.config import Settings

SEALED: dict[str, Any] = {"sealed": True}


class Unreadable(Exception):
    """A stored value that no configured key opens (tampered, or its key was dropped too soon)."""


@dataclass(frozen=True)
class KeyRing:
    """Fernet keys, newest first: the newest seals, any opens."""

    newest: Fernet
    every: MultiFernet

    def seal(self, plaintext: str) -> str:
        """The value encrypted under the newest key, as URL-safe base64 text (about 4/3 of the
        value's length plus 76 characters). The empty string stays empty: a blanked column
        holds nothing to hide, and blanking never needs a key."""
        if plaintext == "":
            return ""
        return self.every.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        """The value `seal` sealed, under any configured key; raises Unreadable otherwise."""
        if sealed == "":
            return ""
        try:
            return self.every.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise Unreadable("No configured DATA_ENCRYPTION_KEYS key opens this value.") from None

    def is_current(self, sealed: str) -> bool:
        """Sealed under the newest key already (so rotation leaves it alone)."""
        if sealed == "":
            return True
        try:
            self.newest.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """The same value sealed under the newest key; raises Unreadable if no key opens it."""
        try:
            return self.every.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise Unreadable("No configured DATA_ENCRYPTION_KEYS key opens this value.") from None


def new_key() -> str:
    """A fresh key for DATA_ENCRYPTION_KEYS: 32 random bytes, URL-safe base64 (Fernet's format)."""
    return Fernet.generate_key().decode()


@lru_cache(maxsize=16)
def _ring(keys: tuple[str, ...]) -> KeyRing:
    fernets = [Fernet(k) for k in keys]
    return KeyRing(newest=fernets[0], every=MultiFernet(fernets))


def development_key(path: Path) -> str:
    """The key kept in `path`, made on first use (mode 0600). For a development machine only:
    production refuses to start without DATA_ENCRYPTION_KEYS (app.core.config). Two processes
    starting at once agree: the key is written to a file of its own, then linked into place,
    which fails if the name exists; the loser reads the winner's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    try:
        Fernet(key)
    except ValueError:  # a damaged file stops here, by name, rather than at the first secret
        raise ValueError(f"{path} does not hold a Fernet key (32 URL-safe base64 bytes)") from None
    return key


def configured_keys(settings: Settings) -> tuple[str, ...]:
    """DATA_ENCRYPTION_KEYS, or outside production the development key file's one key."""
    if settings.data_encryption_keys:
        return tuple(k.get_secret_value() for k in settings.data_encryption_keys)
    return (development_key(settings.data_encryption_key_file),)


def key_ring(settings: Settings) -> KeyRing:
    """The key ring these settings name. Cheap after the first call for the same keys."""
    return _ring(configured_keys(settings))


def ring_of(keys: Sequence[str]) -> KeyRing:
    """A key ring from keys given directly (newest first): for tools and tests."""
    return _ring(tuple(keys))
