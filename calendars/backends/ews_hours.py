"""An owner's Outlook working hours from GetUserAvailability's WorkingHours, and the IANA zone
they are in.

Exchange sends working hours with every free/busy view read from the mailbox (not with
MergedOnly), free/busy-only permission included: a WorkingPeriodArray (days, and start and end
in minutes after midnight) and the mailbox's zone as a SerializableTimeZone: a bias and two
Windows-style "nth weekday of a month at a time" rules for the year, with no name
(MS-OXWAVLS 2.2.4 and its example in 4.2; exchangelib's FreeBusyView.working_hours and
working_hours_timezone). exchangelib reads the minutes into a `time`, which turns 1440 (work
until midnight) into 00:00, and naming the zone would cost a GetServerTimeZones round trip
(TimeZone.to_server_timezone), so the XML is read here, as `ews_busy` does for busy time.

Naming the zone: the rules are compared, to the minute, with what IANA zones do in the
current year: the zone the page or the last reading named first (hints), then the zone of
each Windows id Exchange could hold, the most widely used first (the Windows id that more IANA
zones map to: "Eastern Standard Time" before "Turks And Caicos Standard Time", which has the
same rules). Zones with the same rules give the same hours on every date, so the choice only
changes the name shown. When no zone keeps the rules exactly (a zone whose rules changed since
Exchange's data, or a custom zone) the closest by offsets is taken and said so.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib.services import GetUserAvailability
from exchangelib.util import TNS
from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from calendars.backends.base import WorkingHours, WorkingPeriod

_WORKING_HOURS = f"{{{TNS}}}WorkingHours"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# DayOfWeekType also has these three; Outlook writes day names, but the schema allows them.
_DAY_GROUPS = {"Day": range(7), "Weekday": range(5), "WeekendDay": range(5, 7)}
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "last"}


def _tag(name: str) -> str:
    return f"{{{TNS}}}{name}"


@dataclass(frozen=True)
class Transition:
    """A Windows-style yearly change: the `occurrence`th (5 = last) `weekday` of `month`, at
    wall-clock `at` just before the change."""

    month: int
    weekday: int  # 0 = Monday
    occurrence: int
    at: timedelta

    def moment(self, year: int) -> datetime:
        """The local (naive) moment of the change in `year`."""
        first_weekday, days = calendar.monthrange(year, self.month)
        day = 1 + (self.weekday - first_weekday) % 7 + 7 * (min(self.occurrence, 5) - 1)
        while day > days:  # "the fifth" means the last one
            day -= 7
        return datetime(year, self.month, day) + self.at

    def words(self) -> str:
        nth = _ORDINALS.get(self.occurrence, str(self.occurrence))
        return f"the {nth} {_WEEKDAYS[self.weekday]} of {calendar.month_name[self.month]}"


@dataclass(frozen=True)
class ZoneRules:
    """A SerializableTimeZone: the standard offset, and DST's offset and yearly changes."""

    std_offset: timedelta
    dst_offset: timedelta | None = None
    to_dst: Transition | None = None
    to_std: Transition | None = None

    @property
    def has_dst(self) -> bool:
        return bool(self.to_dst and self.to_std and self.dst_offset not in (None, self.std_offset))

    def changes(self, year: int) -> list[tuple[datetime, timedelta]]:
        """(naive UTC instant, offset from then on) of the year's changes, in order."""
        if not self.has_dst:
            return []
        assert self.to_dst and self.to_std and self.dst_offset is not None
        return sorted(
            [
                (self.to_dst.moment(year) - self.std_offset, self.dst_offset),
                (self.to_std.moment(year) - self.dst_offset, self.std_offset),
            ]
        )

    def offset_at(self, utc: datetime, changes: list[tuple[datetime, timedelta]]) -> timedelta:
        if not changes:
            return self.std_offset
        offset = changes[-1][1]  # before the year's first change: as after its last one
        for instant, after in changes:
            if utc >= instant:
                offset = after
        return offset

    def words(self) -> str:
        text = f"UTC{_offset_words(self.std_offset)}"
        if not self.has_dst:
            return text + " without daylight saving time"
        assert self.to_dst and self.to_std and self.dst_offset is not None
        return (
            f"{text}, UTC{_offset_words(self.dst_offset)} from {self.to_dst.words()} "
            f"to {self.to_std.words()}"
        )


def _offset_words(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "\u2212"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class WorkingHoursAnswer(GetUserAvailability):
    """GetUserAvailability answering, per mailbox, (ZoneRules, periods) or None when Exchange
    sent no WorkingHours (or the exception it gave for that mailbox, as exchangelib does)."""

    def _elem_to_obj(self, elem: Any) -> tuple[ZoneRules, tuple[WorkingPeriod, ...]] | None:
        hours = elem.find(_WORKING_HOURS)
        if hours is None:
            return None
        zone = hours.find(_tag("TimeZone"))
        rules = parse_zone(zone) if zone is not None else ZoneRules(timedelta(0))
        periods = []
        for period in hours.iterfind(f"{_tag('WorkingPeriodArray')}/{_tag('WorkingPeriod')}"):
            parsed = _period(period)
            if parsed is not None:
                periods.append(parsed)
        return rules, tuple(periods)


def _int(elem: Any, name: str, default: int = 0) -> int:
    text = elem.findtext(_tag(name))
    try:
        return int((text or "").strip())
    except ValueError:
        return default


def _period(elem: Any) -> WorkingPeriod | None:
    days: set[int] = set()
    for name in (elem.findtext(_tag("DayOfWeek")) or "").split():
        if name in _WEEKDAYS:
            days.add(_WEEKDAYS.index(name))
        days.update(_DAY_GROUPS.get(name, ()))
    start, end = _int(elem, "StartTimeInMinutes", -1), _int(elem, "EndTimeInMinutes", -1)
    # Outlook's work hours lie within one day; 1440 is the midnight that ends it.
    if not days or not 0 <= start < end <= 24 * 60:
        return None
    return WorkingPeriod(
        weekdays=tuple(sorted(days)),
        start=time(start // 60, start % 60),
        end=time(0) if end == 24 * 60 else time(end // 60, end % 60),
    )


def _transition(elem: Any) -> tuple[int, Transition | None]:
    bias = _int(elem, "Bias")
    month = _int(elem, "Month")
    day = (elem.findtext(_tag("DayOfWeek")) or "").strip()
    if not 1 <= month <= 12 or day not in _WEEKDAYS:
        return bias, None  # Month 0: no change (a zone without DST)
    occurrence = _int(elem, "DayOrder", 1)
    occurrence = 5 if occurrence in (-1, 5) else max(1, min(occurrence, 4))
    clock = time.fromisoformat((elem.findtext(_tag("Time")) or "00:00:00").strip())
    at = timedelta(hours=clock.hour, minutes=clock.minute, seconds=clock.second)
    return bias, Transition(month, _WEEKDAYS.index(day), occurrence, at)


def parse_zone(elem: Any) -> ZoneRules:
    """A SerializableTimeZone element as ZoneRules. Windows' convention: UTC = local + bias."""
    bias = _int(elem, "Bias")
    standard, daylight = elem.find(_tag("StandardTime")), elem.find(_tag("DaylightTime"))
    std_bias, to_std = _transition(standard) if standard is not None else (0, None)
    dst_bias, to_dst = _transition(daylight) if daylight is not None else (0, None)
    std_offset = -timedelta(minutes=bias + std_bias)
    dst_offset = -timedelta(minutes=bias + dst_bias)
    if to_std is None or to_dst is None or dst_offset == std_offset:
        return ZoneRules(std_offset)
    return ZoneRules(std_offset, dst_offset, to_dst, to_std)


# --- naming the zone -------------------------------------------------------------------------


@cache
def _windows_zones() -> tuple[str, ...]:
    """The IANA zone of each Windows id, the most widely used Windows ids first."""
    users = Counter(ms_id for ms_id, _ in IANA_TO_MS_TIMEZONE_MAP.values())
    ids = [ms_id for ms_id in MS_TIMEZONE_TO_IANA_MAP if not ms_id.startswith("tzone://")]
    ids.sort(key=lambda ms_id: -users[ms_id])  # stable: CLDR's order among equals
    return tuple(dict.fromkeys(MS_TIMEZONE_TO_IANA_MAP[ms_id] for ms_id in ids))


def _samples(year: int, changes: list[tuple[datetime, timedelta]]) -> list[datetime]:
    """Naive UTC instants to compare offsets at: a minute either side of each change, and
    twice a month (DST never lasts less than a few weeks)."""
    around = [c + timedelta(minutes=d) for c, _ in changes for d in (-1, 1)]
    return around + [datetime(year, m, d, 12) for m in range(1, 13) for d in (1, 15)]


def _keeps(zone_name: str, rules: ZoneRules, year: int) -> bool:
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    changes = rules.changes(year)
    for instant in _samples(year, changes):
        offset = instant.replace(tzinfo=UTC).astimezone(zone).utcoffset()
        if offset != rules.offset_at(instant, changes):
            return False
    return True


def _offsets(zone_name: str, year: int) -> set[timedelta]:
    zone = ZoneInfo(zone_name)
    return {
        datetime(year, m, 15, 12, tzinfo=UTC).astimezone(zone).utcoffset() or timedelta(0)
        for m in range(1, 13)
    }


def zone_for(rules: ZoneRules, hints: Iterable[str] = (), year: int | None = None) -> str | None:
    """The IANA zone that keeps `rules` this year: a hint if one does, else the most widely
    used one (see the module's docstring); the closest by offsets when none keeps them."""
    year = year or datetime.now(UTC).year
    candidates = list(dict.fromkeys([*(h for h in hints if h), *_windows_zones()]))
    for name in candidates:
        if _keeps(name, rules, year):
            return name
    wanted = {rules.std_offset} | ({rules.dst_offset} if rules.has_dst else set())
    for name in candidates:
        try:
            if _offsets(name, year) == wanted:
                return name
        except (ZoneInfoNotFoundError, ValueError):
            continue
    hours, rest = divmod(int(rules.std_offset.total_seconds()), 3600)
    if not rules.has_dst and rest == 0 and -14 <= hours <= 12:
        # POSIX-style names: Etc/GMT+5 is five hours *behind* UTC.
        return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    return None


def working_hours(
    answer: tuple[ZoneRules, tuple[WorkingPeriod, ...]], hints: Sequence[str] = ()
) -> WorkingHours:
    """WorkingHours in the zone that keeps the answer's rules; ValueError when none is
    close enough to name."""
    rules, periods = answer
    zone = zone_for(rules, hints)
    if zone is None:
        raise ValueError(f"No time zone keeps the rules Exchange gave: {rules.words()}.")
    exact = _keeps(zone, rules, datetime.now(UTC).year)
    note = f"Exchange gives the zone as {rules.words()}"
    note += f"; {zone} keeps those rules." if exact else f"; {zone} is the closest zone."
    return WorkingHours(zone=zone, periods=periods, zone_note=note)
