"""Recurring calendar items: parsing ``t:Recurrence``, writing it back, expanding occurrences.

Patterns: daily, weekly, absolute/relative monthly and absolute/relative yearly (the six
``RecurrencePatternTypes`` of the schema). Ranges: no end, end date (inclusive), numbered.
Task-only regeneration patterns are refused with a ValueError.

Expansion rules (chosen to match Exchange/Outlook):

* Occurrence dates come from the pattern, on or after the range's StartDate (a local date in
  the item's time zone). Each occurrence starts at the master's local wall-clock time, so a
  09:00 London meeting stays at 09:00 local across DST changes.
* Duration is kept in wall-clock terms (local end = local start + the master's local length),
  so an all-day item stays midnight-to-midnight on 23- and 25-hour days.
* A local start inside the spring-forward gap (01:30 on the day London skips 01:00-02:00) is
  moved forward by the gap (02:30 BST); a local time that happens twice on the autumn day
  takes the first (daylight) occurrence. That is PEP 495's fold=0 and what Outlook shows.
* Occurrence indexes are 1-based and count deleted occurrences too (deleting one does not
  extend a numbered series), as Exchange's InstanceIndex does.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from lxml import etree

T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
UTC = dt.UTC

PatternKind = Literal[
    "daily", "weekly", "absolute_monthly", "relative_monthly", "absolute_yearly", "relative_yearly"
]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = tuple(calendar.month_name[1:])
# Relative patterns may name a day class instead of a weekday.
DAY_CLASSES: dict[str, frozenset[int]] = {
    "Day": frozenset(range(7)),
    "Weekday": frozenset(range(5)),
    "WeekendDay": frozenset({5, 6}),
}
WEEK_INDEXES = ("First", "Second", "Third", "Fourth", "Last")
LAST_WEEK = 5

_PATTERN_TAGS: dict[str, PatternKind] = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absolute_monthly",
    "RelativeMonthlyRecurrence": "relative_monthly",
    "AbsoluteYearlyRecurrence": "absolute_yearly",
    "RelativeYearlyRecurrence": "relative_yearly",
}
_TAG_FOR_KIND = {kind: tag for tag, kind in _PATTERN_TAGS.items()}
_RANGE_TAGS = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")
# Exchange's limits on Interval (exchangelib enforces the same).
_MAX_INTERVAL: dict[PatternKind, int] = {
    "daily": 999,
    "weekly": 99,
    "absolute_monthly": 99,
    "relative_monthly": 99,
    "absolute_yearly": 1,
    "relative_yearly": 1,
}


@dataclass(frozen=True)
class Recurrence:
    """A recurrence pattern plus its range.

    ``weekdays`` (0 = Monday .. 6 = Sunday) is the weekly pattern's days, or for relative
    patterns the set of days the named DaysOfWeek stands for (one weekday, or all days /
    weekdays / weekend days). ``day_of_week_index`` is 1..4, or 5 for "Last". ``month`` is 1..12
    for yearly patterns. Yearly patterns have interval 1 (EWS has no yearly interval).
    """

    pattern: PatternKind
    interval: int
    start_date: dt.date
    end_date: dt.date | None = None
    number_of_occurrences: int | None = None
    weekdays: frozenset[int] = frozenset()
    first_day_of_week: int = 0
    day_of_month: int | None = None
    day_of_week_index: int | None = None
    month: int | None = None

    def __post_init__(self) -> None:
        if self.end_date is not None and self.number_of_occurrences is not None:
            raise ValueError("A recurrence has either an end date or a number of occurrences")
        if not 1 <= self.interval <= _MAX_INTERVAL[self.pattern]:
            raise ValueError(f"Interval {self.interval} is out of range for {self.pattern}")
        if self.number_of_occurrences is not None and self.number_of_occurrences < 1:
            raise ValueError("NumberOfOccurrences must be at least 1")
        if self.pattern in ("weekly", "relative_monthly", "relative_yearly") and not self.weekdays:
            raise ValueError(f"A {self.pattern} recurrence needs DaysOfWeek")
        if self.pattern in ("absolute_monthly", "absolute_yearly") and not (
            self.day_of_month and 1 <= self.day_of_month <= 31
        ):
            raise ValueError("DayOfMonth must be 1..31")
        if self.pattern.startswith("relative_") and self.day_of_week_index not in range(1, 6):
            raise ValueError("DayOfWeekIndex is required for relative patterns")
        if self.pattern.endswith("_yearly") and self.month not in range(1, 13):
            raise ValueError("Month is required for yearly patterns")


@dataclass(frozen=True)
class Occurrence:
    """One expanded occurrence, in UTC. ``index`` is 1-based within the series."""

    start: dt.datetime
    end: dt.datetime
    index: int


# --------------------------------------------------------------------------------------------
# XML in
# --------------------------------------------------------------------------------------------


def _t(tag: str) -> str:
    return f"{{{T_NS}}}{tag}"


def _text(elem: etree._Element, tag: str, *, required: bool = True) -> str | None:
    child = elem.find(_t(tag))
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise ValueError(f"Recurrence: {etree.QName(elem).localname} needs {tag}")
        return None
    return child.text.strip()


def _int(elem: etree._Element, tag: str) -> int:
    text = _text(elem, tag)
    assert text is not None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"Recurrence: {tag} must be an integer, not {text!r}") from None


_DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2}|T.*)?$")


def parse_ews_date(text: str) -> dt.date:
    """An xs:date as exchangelib and Exchange write it: 2026-12-01, 2026-12-01Z,
    2026-12-01+01:00 (and, leniently, a full dateTime). The date part is the local date; the
    offset only says where that date is, so it is dropped."""
    match = _DATE_RE.match(text.strip())
    if not match:
        raise ValueError(f"Recurrence: invalid date {text!r}")
    return dt.date.fromisoformat(match.group(1))


def _weekdays(text: str, *, single: bool) -> frozenset[int]:
    names = text.split()
    if single and len(names) != 1:
        raise ValueError(f"Recurrence: DaysOfWeek must be one value here, not {text!r}")
    days: set[int] = set()
    for name in names:
        if name in WEEKDAY_NAMES:
            days.add(WEEKDAY_NAMES.index(name))
        elif name in DAY_CLASSES:
            days |= DAY_CLASSES[name]
        else:
            raise ValueError(f"Recurrence: unknown day {name!r}")
    return frozenset(days)


def _weekday(text: str) -> int:
    if text not in WEEKDAY_NAMES:
        raise ValueError(f"Recurrence: unknown FirstDayOfWeek {text!r}")
    return WEEKDAY_NAMES.index(text)


def _month(text: str) -> int:
    if text not in MONTH_NAMES:
        raise ValueError(f"Recurrence: unknown Month {text!r}")
    return MONTH_NAMES.index(text) + 1


def _week_index(text: str) -> int:
    if text not in WEEK_INDEXES:
        raise ValueError(f"Recurrence: unknown DayOfWeekIndex {text!r}")
    return WEEK_INDEXES.index(text) + 1


def _pattern_fields(kind: PatternKind, elem: etree._Element) -> dict[str, object]:
    fields: dict[str, object] = {"pattern": kind, "interval": 1}
    if not kind.endswith("_yearly"):
        fields["interval"] = _int(elem, "Interval")
    if kind == "weekly":
        fields["weekdays"] = _weekdays(_text(elem, "DaysOfWeek") or "", single=False)
        first_day = _text(elem, "FirstDayOfWeek", required=False)
        fields["first_day_of_week"] = _weekday(first_day) if first_day else 0
    if kind in ("absolute_monthly", "absolute_yearly"):
        fields["day_of_month"] = _int(elem, "DayOfMonth")
    if kind in ("relative_monthly", "relative_yearly"):
        fields["weekdays"] = _weekdays(_text(elem, "DaysOfWeek") or "", single=True)
        fields["day_of_week_index"] = _week_index(_text(elem, "DayOfWeekIndex") or "")
    if kind.endswith("_yearly"):
        fields["month"] = _month(_text(elem, "Month") or "")
    return fields


def _range_fields(elem: etree._Element) -> dict[str, object]:
    tag = etree.QName(elem).localname
    fields: dict[str, object] = {"start_date": parse_ews_date(_text(elem, "StartDate") or "")}
    if tag == "EndDateRecurrence":
        fields["end_date"] = parse_ews_date(_text(elem, "EndDate") or "")
        if fields["end_date"] < fields["start_date"]:  # type: ignore[operator]
            raise ValueError("Recurrence: EndDate is before StartDate")
    elif tag == "NumberedRecurrence":
        fields["number_of_occurrences"] = _int(elem, "NumberOfOccurrences")
    return fields


def parse_recurrence(elem: etree._Element) -> Recurrence:
    """A Recurrence from a ``t:Recurrence`` element; ValueError for anything unsupported."""
    pattern_elem = range_elem = None
    for child in elem:
        if not isinstance(child.tag, str):
            continue  # comments
        name = etree.QName(child).localname
        if name in _PATTERN_TAGS:
            pattern_elem = child
        elif name in _RANGE_TAGS:
            range_elem = child
        else:
            raise ValueError(
                f"Unsupported recurrence element {name!r} (calendar items use "
                f"{', '.join(_PATTERN_TAGS)})"
            )
    if pattern_elem is None:
        raise ValueError("Recurrence has no supported pattern")
    if range_elem is None:
        raise ValueError("Recurrence has no range (NoEnd, EndDate or Numbered recurrence)")
    kind = _PATTERN_TAGS[etree.QName(pattern_elem).localname]
    return Recurrence(**_pattern_fields(kind, pattern_elem), **_range_fields(range_elem))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# XML out
# --------------------------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, _t(tag))
    child.text = text
    return child


def format_ews_date(day: dt.date, tz: dt.tzinfo | None = None) -> str:
    """xs:date with the zone offset at that local midnight, as Exchange writes range dates.

    exchangelib reads a bare date here as a naive *datetime* in the machine's local zone, but
    a date with ``Z``/``+HH:MM`` as the intended date, so an offset is always written.
    """
    offset = dt.datetime.combine(day, dt.time(), tzinfo=tz).utcoffset() if tz else None
    if not offset:
        return f"{day.isoformat()}Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{day.isoformat()}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _days_text(weekdays: frozenset[int], first_day_of_week: int) -> str:
    ordered = sorted(weekdays, key=lambda day: (day - first_day_of_week) % 7)
    return " ".join(WEEKDAY_NAMES[day] for day in ordered)


def _relative_day_text(weekdays: frozenset[int]) -> str:
    for name, days in DAY_CLASSES.items():
        if weekdays == days:
            return name
    if len(weekdays) != 1:
        raise ValueError(f"Relative patterns take one day or a day class, not {sorted(weekdays)}")
    return WEEKDAY_NAMES[next(iter(weekdays))]


def _add_pattern(parent: etree._Element, rec: Recurrence) -> None:
    elem = etree.SubElement(parent, _t(_TAG_FOR_KIND[rec.pattern]))
    if not rec.pattern.endswith("_yearly"):
        _sub(elem, "Interval", str(rec.interval))
    if rec.pattern == "weekly":
        _sub(elem, "DaysOfWeek", _days_text(rec.weekdays, rec.first_day_of_week))
        _sub(elem, "FirstDayOfWeek", WEEKDAY_NAMES[rec.first_day_of_week])
    if rec.pattern in ("absolute_monthly", "absolute_yearly"):
        _sub(elem, "DayOfMonth", str(rec.day_of_month))
    if rec.pattern in ("relative_monthly", "relative_yearly"):
        assert rec.day_of_week_index is not None
        _sub(elem, "DaysOfWeek", _relative_day_text(rec.weekdays))
        _sub(elem, "DayOfWeekIndex", WEEK_INDEXES[rec.day_of_week_index - 1])
    if rec.pattern.endswith("_yearly"):
        assert rec.month is not None
        _sub(elem, "Month", MONTH_NAMES[rec.month - 1])


def _add_range(parent: etree._Element, rec: Recurrence, tz: dt.tzinfo | None) -> None:
    if rec.end_date is not None:
        elem = etree.SubElement(parent, _t("EndDateRecurrence"))
        _sub(elem, "StartDate", format_ews_date(rec.start_date, tz))
        _sub(elem, "EndDate", format_ews_date(rec.end_date, tz))
    elif rec.number_of_occurrences is not None:
        elem = etree.SubElement(parent, _t("NumberedRecurrence"))
        _sub(elem, "StartDate", format_ews_date(rec.start_date, tz))
        _sub(elem, "NumberOfOccurrences", str(rec.number_of_occurrences))
    else:
        elem = etree.SubElement(parent, _t("NoEndRecurrence"))
        _sub(elem, "StartDate", format_ews_date(rec.start_date, tz))


def recurrence_to_xml(rec: Recurrence, tz: dt.tzinfo | None = None) -> etree._Element:
    """The ``t:Recurrence`` Exchange returns in GetItem. ``tz`` (the item's zone) sets the
    offset written on the range dates; without it they carry ``Z``."""
    elem = etree.Element(_t("Recurrence"), nsmap={"t": T_NS})
    _add_pattern(elem, rec)
    _add_range(elem, rec, tz)
    return elem


# --------------------------------------------------------------------------------------------
# Pattern dates
# --------------------------------------------------------------------------------------------
#
# Every pattern is a sequence of equally long periods (interval days, interval weeks,
# interval months, 12 months), each holding a fixed number of candidate dates. That makes the
# series index of any candidate arithmetic, so expansion can start at the period just before
# the window instead of walking from the series start.


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_from_index(index: int) -> tuple[int, int]:
    return index // 12, index % 12 + 1


def _nth_matching_day(year: int, month: int, days: frozenset[int], index: int) -> dt.date:
    """The index-th day (1..4, or 5 = last) of the month whose weekday is in ``days``."""
    last_day = calendar.monthrange(year, month)[1]
    matching = [
        dt.date(year, month, d)
        for d in range(1, last_day + 1)
        if dt.date(year, month, d).weekday() in days
    ]
    return matching[-1] if index == LAST_WEEK else matching[index - 1]


def _week_offsets(rec: Recurrence) -> list[int]:
    return sorted((day - rec.first_day_of_week) % 7 for day in rec.weekdays)


def _anchor(rec: Recurrence) -> dt.date:
    """First day of period 0."""
    if rec.pattern == "weekly":
        back = (rec.start_date.weekday() - rec.first_day_of_week) % 7
        return rec.start_date - dt.timedelta(days=back)
    if rec.pattern == "daily":
        return rec.start_date
    return rec.start_date.replace(day=1)


def _period_dates(rec: Recurrence, period: int) -> list[dt.date]:
    """The candidate dates of one period, in order."""
    anchor = _anchor(rec)
    if rec.pattern == "daily":
        return [anchor + dt.timedelta(days=period * rec.interval)]
    if rec.pattern == "weekly":
        week = anchor + dt.timedelta(weeks=period * rec.interval)
        return [week + dt.timedelta(days=offset) for offset in _week_offsets(rec)]
    months = 12 if rec.pattern.endswith("_yearly") else rec.interval
    year, month = _month_from_index(_month_index(anchor) + period * months)
    if rec.pattern.endswith("_yearly"):
        assert rec.month is not None
        year += rec.month < anchor.month  # the first period may fall in the next year
        month = rec.month
    if rec.pattern.startswith("absolute_"):
        assert rec.day_of_month is not None
        return [dt.date(year, month, min(rec.day_of_month, calendar.monthrange(year, month)[1]))]
    assert rec.day_of_week_index is not None
    return [_nth_matching_day(year, month, rec.weekdays, rec.day_of_week_index)]


def _period_containing(rec: Recurrence, day: dt.date) -> int:
    """The period whose span contains ``day`` (negative before the anchor)."""
    anchor = _anchor(rec)
    if rec.pattern == "daily":
        return (day - anchor).days // rec.interval
    if rec.pattern == "weekly":
        return (day - anchor).days // (7 * rec.interval)
    months = 12 if rec.pattern.endswith("_yearly") else rec.interval
    return (_month_index(day) - _month_index(anchor)) // months


def pattern_dates(
    rec: Recurrence, from_date: dt.date | None = None
) -> Iterator[tuple[int, dt.date]]:
    """(1-based index, local date) of every occurrence, in order, from the period holding
    ``from_date`` on (earlier ones are skipped without being generated). Respects StartDate,
    EndDate and NumberOfOccurrences; infinite for no-end series."""
    skipped_in_first = sum(1 for day in _period_dates(rec, 0) if day < rec.start_date)
    per_period = len(_period_dates(rec, 0))
    # Yearly candidates may sit a year after their period's start: begin one period earlier.
    first = 0 if from_date is None else max(0, _period_containing(rec, from_date) - 1)
    period = first
    while True:
        for position, day in enumerate(_period_dates(rec, period)):
            index = period * per_period + position - skipped_in_first + 1
            if day < rec.start_date:
                continue
            if rec.end_date is not None and day > rec.end_date:
                return
            if rec.number_of_occurrences is not None and index > rec.number_of_occurrences:
                return
            yield index, day
        period += 1


# --------------------------------------------------------------------------------------------
# Expansion
# --------------------------------------------------------------------------------------------


def local_to_utc(local: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A naive local wall time in ``tz`` as an aware UTC instant.

    fold=0: a time in the spring gap moves forward by the gap, a repeated autumn time takes
    its first (daylight) occurrence.
    """
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _overlaps(start: dt.datetime, end: dt.datetime, lo: dt.datetime, hi: dt.datetime) -> bool:
    if start == end:  # zero-length items count at their start, as CalendarView does
        return lo <= start < hi
    return start < hi and end > lo


def expand(
    start: dt.datetime,
    end: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    rec: Recurrence,
    window_start: dt.datetime,
    window_end: dt.datetime,
    deleted: frozenset[dt.date] = frozenset(),
) -> Iterator[Occurrence]:
    """Occurrences of a series overlapping [window_start, window_end), in order, in UTC.

    ``start``/``end`` are the master's (aware) first occurrence; ``tz`` is the item's zone.
    ``deleted`` holds local dates of occurrences the user removed.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("expand needs aware start and end")
    local_start = start.astimezone(tz).replace(tzinfo=None)
    local_length = end.astimezone(tz).replace(tzinfo=None) - local_start
    time_of_day = local_start - local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    # The earliest date whose occurrence could still reach into the window; a day of slack
    # covers DST shifts between wall-clock and elapsed time.
    first_date = (window_start.astimezone(tz) - max(local_length, dt.timedelta(0))).date()
    first_date -= dt.timedelta(days=1)
    last_date = window_end.astimezone(tz).date() + dt.timedelta(days=1)
    for index, day in pattern_dates(rec, from_date=first_date):
        if day > last_date:
            return
        if day in deleted:
            continue
        occurrence_local = dt.datetime.combine(day, dt.time()) + time_of_day
        occ_start = local_to_utc(occurrence_local, tz)
        occ_end = max(local_to_utc(occurrence_local + local_length, tz), occ_start)
        if _overlaps(occ_start, occ_end, window_start, window_end):
            yield Occurrence(start=occ_start, end=occ_end, index=index)


def all_day_bounds(
    day_start: dt.date, day_end_exclusive: dt.date, tz: zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants of local midnight at the start of ``day_start`` and ``day_end_exclusive``
    in the event's own zone (a midnight skipped by DST maps to the day's first instant)."""
    return (
        local_to_utc(dt.datetime.combine(day_start, dt.time()), tz),
        local_to_utc(dt.datetime.combine(day_end_exclusive, dt.time()), tz),
    )
