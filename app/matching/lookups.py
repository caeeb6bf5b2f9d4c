"""What a batch run reads from its context, as sorted keys: built once, asked for blocks of pairs.

Vetting, pairs and volunteers already joined to a need, and shared history become integer keys
over need, offer and volunteer positions, so a block of pairs is answered with one search.
"""

import uuid
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from app.matching.columns import Bools, F, Ints, NeedColumns, OfferColumns
from app.matching.facts import Context, NeedFacts


def _sorted(keys: list[int]) -> Ints:
    return np.unique(np.array(keys, dtype=np.int64))


def _among(keys: Ints, sorted_keys: Ints) -> Bools:
    if not sorted_keys.size:
        return np.zeros(keys.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    out: Bools = sorted_keys[at] == keys
    return out


def _members_in(ids: Sequence[uuid.UUID | None], chosen: AbstractSet[uuid.UUID]) -> Bools:
    """Which of `ids` are in `chosen`; nobody is, at no cost, when it is empty (most runs)."""
    if not chosen:
        return np.zeros(len(ids), dtype=np.bool_)
    return np.array([i in chosen for i in ids], dtype=np.bool_)


def _blocked_keys(
    needs: list[NeedFacts], volunteer_at: dict[int, int], volunteers: int, ctx: Context
) -> list[int]:
    """need x volunteers + volunteer for each need whose requester is blocked with a volunteer."""
    if not ctx.blocked:
        return []
    parted: dict[int, list[int]] = {}
    for member, other in ctx.blocked:
        if other.int in volunteer_at:
            parted.setdefault(member.int, []).append(volunteer_at[other.int])
    return [
        i * volunteers + v
        for i, need in enumerate(needs)
        if need.requester_id is not None
        for v in parted.get(need.requester_id.int, ())
    ]


@dataclass(frozen=True)
class Lookups:
    offers: int
    volunteers: int
    vetted: Ints  # need organisation row x volunteers + volunteer
    organization_row: Ints  # per need; its organisation's row, or -1 when it has none
    joined_pairs: Ints  # need x offers + offer
    joined_volunteers: Ints  # need x volunteers + volunteer
    requester: Ints  # per need, its requester's position; -1 when it has none
    requesters: int
    history_keys: Ints  # volunteer x requesters + requester
    history_counts: F
    most_helped: F  # per need: its requester's completed matches with any one volunteer, at most
    suspended_volunteer: Bools  # per volunteer position
    suspended_requester: Bools  # per need
    blocked: Ints  # need x volunteers + volunteer, where the need's requester and volunteer are blocked
    verifying_need: Bools  # per need: its organisation takes only verified volunteers
    verified_volunteer: Bools  # per volunteer position: verified their address (read when some need asks)

    @classmethod
    def of(cls, needs: list[NeedFacts], nc: NeedColumns, oc: OfferColumns, ctx: Context) -> "Lookups":
        """Maps of ids to positions are built only for what the context holds (keyed by UUID.int,
        which hashes without running Python code): most runs join nothing yet and share no history."""
        volunteer_at, volunteers, offers = oc.volunteer_index, len(oc.volunteer_ids), len(oc.ids)
        joined = ctx.active_pairs or ctx.active_volunteers
        need_at = {n.id.int: i for i, n in enumerate(needs)} if joined else {}
        offer_at = {oid.int: i for i, oid in enumerate(oc.ids)} if ctx.active_pairs else {}
        orgs = sorted({org for org, asks in zip(nc.organization, nc.vetting, strict=True) if asks and org})
        row_of = {org: i for i, org in enumerate(orgs)}
        requesters = dict.fromkeys(n.requester_id.int for n in needs if n.requester_id) if ctx.history else {}
        requester_at = {r: i for i, r in enumerate(requesters)}
        history = {
            volunteer_at[v.int] * len(requester_at) + requester_at[r.int]: count
            for (v, r), count in ctx.history.items()
            if v.int in volunteer_at and r.int in requester_at
        }
        keys = sorted(history)
        counts = np.array([history[k] for k in keys], np.float64)
        requester = np.array(
            [requester_at.get(n.requester_id.int, -1) if n.requester_id else -1 for n in needs], np.int64
        )
        most = np.zeros(len(requester_at) + 1)  # the last: needs without a requester
        if keys:
            np.maximum.at(most, np.array(keys, np.int64) % len(requester_at), counts)
        return cls(
            offers=offers,
            volunteers=volunteers,
            vetted=_sorted(
                [
                    row_of[org] * volunteers + volunteer_at[v.int]
                    for v, by in ctx.vetted_by.items()
                    if v.int in volunteer_at
                    for org in by & row_of.keys()
                ]
            ),
            organization_row=np.array(
                [row_of.get(org, -1) if org else -1 for org in nc.organization], np.int64
            ),
            joined_pairs=_sorted(
                [
                    need_at[a.int] * offers + offer_at[b.int]
                    for a, b in ctx.active_pairs
                    if a.int in need_at and b.int in offer_at
                ]
            ),
            joined_volunteers=_sorted(
                [
                    need_at[a.int] * volunteers + volunteer_at[v.int]
                    for a, v in ctx.active_volunteers
                    if a.int in need_at and v.int in volunteer_at
                ]
            ),
            requester=requester,
            requesters=len(requester_at),
            history_keys=np.array(keys, np.int64),
            history_counts=counts,
            most_helped=most[requester],
            suspended_volunteer=_members_in(oc.volunteer_ids, ctx.suspended),
            suspended_requester=_members_in([n.requester_id for n in needs], ctx.suspended),
            blocked=_sorted(_blocked_keys(needs, volunteer_at, volunteers, ctx)),
            verifying_need=_members_in([n.organization_id for n in needs], ctx.verifying),
            verified_volunteer=_members_in(oc.volunteer_ids, ctx.verified if ctx.verifying else frozenset()),
        )

    def vetted_for(self, n: Ints, volunteer: Ints) -> Bools:
        """Did the need's own organisation vet the volunteer? (Never, when it has none.)"""
        row = self.organization_row[n]
        out: Bools = (row >= 0) & _among(row * self.volunteers + volunteer, self.vetted)
        return out

    def not_joined(self, n: Ints, o: Ints, volunteer: Ints) -> Bools:
        """No proposed or accepted match joins the pair, nor the volunteer (through any offer) to the need."""
        keep: Bools = ~_among(n * self.offers + o, self.joined_pairs)
        keep &= ~_among(n * self.volunteers + volunteer, self.joined_volunteers)
        return keep

    def not_blocked(self, n: Ints, volunteer: Ints) -> Bools:
        """Neither the need's requester nor the pair's volunteer blocked the other."""
        out: Bools = ~_among(n * self.volunteers + volunteer, self.blocked)
        return out

    def helped(self, n: Ints, volunteer: Ints) -> F:
        """Completed matches between each pair's volunteer and requester."""
        requester = self.requester[n]
        keys = volunteer * self.requesters + requester
        found = (requester >= 0) & _among(keys, self.history_keys)
        out: F = np.zeros(n.size)
        if found.any():
            out[found] = self.history_counts[np.searchsorted(self.history_keys, keys[found])]
        return out
