"""The kinds of crisis the detector names, shared by its phrase lists and the catalogue."""

from enum import StrEnum


class Kind(StrEnum):
    suicide = "suicide"
    self_harm = "self_harm"
    abuse = "abuse"
    danger = "danger"
