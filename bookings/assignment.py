"""Who takes a round-robin booking: a pure ranking of the members free for the chosen slot.
No ORM, no I/O, no clock: the booking code passes the team, the slot's free members (a
bookings.availability.TeamSlot's `members`) and the page's recent bookings.

Rules, as a page owner would state them:
- Only members free for the slot are considered; when the customer named a member (on a page
  that lets them: the caller checks), only that member.
- A lower priority tier wins outright: tier 1 takes bookings only when no tier-0 member is free.
- Within a tier, the member with the fewest bookings of this page made in the last `period`,
  divided by their weight, wins: a member of weight 2 takes twice the bookings of one of
  weight 1.
- Ties go to the member booked least recently (never booked: longest ago), then to the lowest
  member id, so the same inputs always give the same answer.
The ranking continues past the winner, by the same rules, so the booking code can try the next
member when the first turns out to be busy after all (their calendar changed since the slots
were listed).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from bookings.availability import MemberId

NEVER = datetime.min.replace(tzinfo=UTC)  # "booked least recently" for someone never booked


@dataclass(frozen=True)
class Host:
    """A round-robin member's place in the rotation."""

    id: MemberId
    tier: int = 0  # priority: lower numbers are asked first
    weight: float = 1.0  # share of the bookings relative to the others in their tier; > 0


@dataclass(frozen=True)
class PastBooking:
    """A booking of this page assigned to `member`, made (not held) at `made`, in UTC. Counting
    by when it was made, not when the meeting is, keeps a member with many future meetings from
    looking idle. The caller leaves out cancelled bookings."""

    member: MemberId
    made: datetime


@dataclass(frozen=True)
class Assignment:
    member: MemberId | None  # None: nobody to assign (no one free, or the named member isn't)
    fallbacks: tuple[MemberId, ...]  # who to try next, in order, if `member` turns out busy

    @property
    def order(self) -> tuple[MemberId, ...]:
        return () if self.member is None else (self.member, *self.fallbacks)


def assign(
    hosts: Sequence[Host],
    *,
    free: Iterable[MemberId],
    history: Iterable[PastBooking],
    now: datetime,
    period: timedelta = timedelta(days=30),
    requested: MemberId | None = None,
) -> Assignment:
    """Rank the hosts free for a slot: the first takes it, the rest are the fallbacks.

    `history` may hold older bookings than `period`: they don't count towards the fairness
    counts but do say who was booked least recently.
    """
    by_id = {h.id: h for h in hosts}
    if len(by_id) != len(hosts):
        raise ValueError("Hosts' ids must be unique.")
    for h in hosts:
        # A zero or negative weight would divide by zero or rank a busier member first.
        if not (h.weight > 0 and math.isfinite(h.weight)):
            raise ValueError(f"Host {h.id!r} needs a positive, finite weight.")
    candidates = set(free)
    unknown = candidates - by_id.keys()
    if unknown:
        # The free members come from the same team as the hosts; a stranger is a caller's bug.
        raise ValueError(f"Free members that are not hosts: {sorted(map(str, unknown))}.")
    if requested is not None:
        # A customer-supplied id: one not free (or not on the team) leaves nobody to assign.
        candidates &= {requested}

    since = now - period
    counts: Counter[MemberId] = Counter()
    last: dict[MemberId, datetime] = {}
    for b in history:
        if b.member not in by_id:
            continue  # a former member's bookings weigh on no one
        if b.made >= since:
            counts[b.member] += 1
        if b.made > last.get(b.member, NEVER):
            last[b.member] = b.made

    def key(h: Host) -> tuple[int, Fraction, datetime, tuple[bool, MemberId]]:
        # Fraction: exact, so equal shares (2 of weight 2, 1 of weight 1) tie and fall through
        # to recency instead of being split by a float's rounding. The id key sorts ints
        # before strings, so a mixed team still sorts instead of raising.
        return (
            h.tier,
            Fraction(counts[h.id]) / Fraction(h.weight),
            last.get(h.id, NEVER),
            (isinstance(h.id, str), h.id),
        )

    ranked = sorted((by_id[m] for m in candidates), key=key)
    if not ranked:
        return Assignment(None, ())
    return Assignment(ranked[0].id, tuple(h.id for h in ranked[1:]))
