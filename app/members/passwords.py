"""What a new password must be: not blank, long enough, not one of the most common passwords.

The common list is the 10,000 most frequent entries of the password list that zxcvbn ships
(`zxcvbn.frequency_lists`, MIT licence; drawn from Mark Burnett's and Xato's corpora of leaked
passwords, ranked by frequency). Only membership is checked, after lowercasing, so the rule is
predictable and explainable; zxcvbn's estimator is not used (its score would refuse passwords
for reasons a member cannot see)."""

from functools import lru_cache

from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

from app.core.errors import Invalid

COMMON_COUNT = 10_000


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"][:COMMON_COUNT])


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
