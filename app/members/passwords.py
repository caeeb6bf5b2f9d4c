"""What a new password must be: not blank, long enough, not one of the most common passwords.

The common list is the 10,000 most frequent entries of the password list that zxcvbn ships
(`zxcvbn.frequency_lists`, MIT licence; drawn from Mark Burnett's and Xato's corpora of leaked
passwords, ranked by frequency). Only membership is checked, after lowercasing, so the rule is
predictable and explainable; zxcvbn's estimator is not used (its score would refuse passwords
for reasons a member cannot see).

The 10,000 are shipped as `common_passwords.txt`, one a line, in zxcvbn's order: importing
zxcvbn builds all of its ranked dictionaries, ~10 MB in every server process, for a list of 80 KB.
`python -m app.members.passwords` writes the file again from the installed zxcvbn (a development
dependency); tests/members/test_passwords.py checks it is zxcvbn's list."""

from functools import lru_cache
from pathlib import Path

from app.core.errors import Invalid

COMMON_COUNT = 10_000
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    return frozenset(COMMON_FILE.read_text(encoding="ascii").splitlines())


def zxcvbn_common() -> list[str]:
    """The first COMMON_COUNT entries of zxcvbn's password list (development dependency)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    common: list[str] = FREQUENCY_LISTS["passwords"][:COMMON_COUNT]
    return common


def check_new_password(password: str, *, min_length: int, field: str) -> None:
    """Raises Invalid (422, `loc` = body.`field`) saying why the password is refused."""
    loc: list[str | int] = ["body", field]
    if not password.strip():
        raise Invalid("The password is blank.", loc=loc)
    if len(password) < min_length:
        raise Invalid(f"The password is too short: use at least {min_length} characters.", loc=loc)
    if password.lower() in common_passwords() or password.strip().lower() in common_passwords():
        raise Invalid(
            "This password is among the 10,000 most common ones, which attackers try first; choose another.",
            loc=loc,
        )


if __name__ == "__main__":
    COMMON_FILE.write_text("".join(f"{password}\n" for password in zxcvbn_common()), encoding="ascii")
    print(f"wrote {COMMON_FILE} ({len(common_passwords.__wrapped__())} passwords)")
