"""The hash a login for an unknown email is verified against: a constant, so it must stay what
hashing with the service's hasher would give, or such a login would take another time."""

from pwdlib import PasswordHash

from app.core.security import UNKNOWN_MEMBER_HASH


def test_the_unknown_member_hash_carries_the_hashers_parameters() -> None:
    hasher = PasswordHash.recommended()  # what app.core.security hashes and verifies with
    (argon2,) = hasher.hashers
    assert not argon2.check_needs_rehash(UNKNOWN_MEMBER_HASH)
    fresh = hasher.hash("not-a-real-password-just-for-timing")
    assert fresh.split("$")[:4] == UNKNOWN_MEMBER_HASH.split("$")[:4]  # algorithm, version, costs
    assert hasher.verify("not-a-real-password-just-for-timing", UNKNOWN_MEMBER_HASH)
    assert not hasher.verify("any other password", UNKNOWN_MEMBER_HASH)
