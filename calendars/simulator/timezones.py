"""Time zones as the EWS simulator speaks them.

Exchange names zones by their Windows id ("W. Europe Standard Time"), describes them in
GetServerTimeZones as periods plus yearly transition rules, and receives them back from
exchangelib in GetUserAvailability as a ``SerializableTimeZone`` (a bias and two Windows-style
"nth weekday of month" rules). This module converts between those shapes and Python tzinfo
objects. The rules are derived from the IANA database (``zoneinfo``) so that nothing here is a
hand-maintained copy of Microsoft's registry.

Bias convention (Windows): ``UTC = local + bias``, so a bias is the negated UTC offset.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP
from lxml import etree

T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
NSMAP = {"t": T_NS, "m": M_NS}

UTC = dt.UTC
UTC_MS_ID = "UTC"

# Years for which transition rules are derived. Years before FIRST_RULE_YEAR use the first
# group (that is what the plain <Transition> to group 0 means); years after LAST_RULE_YEAR keep
# the last group, which is zoneinfo's current rule anyway.
FIRST_RULE_YEAR = 2000
LAST_RULE_YEAR = 2050

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LAST = -1  # Occurrence value Exchange uses in GetServerTimeZones for "last <weekday> of month"

# How finely zoneinfo is sampled when looking for transitions. Real zones never change twice
# within a week (Morocco's Ramadan break, the shortest, lasts about a month), and a coarse step
# keeps building all ~140 definitions well under a second.
_SCAN_STEP = dt.timedelta(days=7)


class UnknownTimeZoneError(ValueError):
    """A Windows time zone id (or IANA key) this simulator cannot map."""


# --------------------------------------------------------------------------------------------
# Windows id <-> IANA
# --------------------------------------------------------------------------------------------


def tz_from_ms_id(ms_id: str) -> zoneinfo.ZoneInfo:
    """The IANA zone for a Windows time zone id, e.g. "W. Europe Standard Time" -> Europe/Berlin."""
    if ms_id in (UTC_MS_ID, "tzone://Microsoft/Utc"):
        return zoneinfo.ZoneInfo("UTC")
    try:
        key = MS_TIMEZONE_TO_IANA_MAP[ms_id]
    except KeyError:
        raise UnknownTimeZoneError(f"Unknown Windows time zone id {ms_id!r}") from None
    return zoneinfo.ZoneInfo(key)


def ms_id_from_tz(tz: dt.tzinfo | str) -> str:
    """The Windows id for a tzinfo, an IANA key or (passed through) a Windows id."""
    if isinstance(tz, str):
        return _ms_id_from_name(tz)
    ms_id = getattr(tz, "ms_id", None)  # exchangelib's EWSTimeZone already knows it
    if isinstance(ms_id, str) and ms_id:
        return ms_id
    if isinstance(tz, zoneinfo.ZoneInfo):
        return _ms_id_from_name(tz.key)
    if tz is UTC or (isinstance(tz, dt.timezone) and tz.utcoffset(None) == dt.timedelta(0)):
        return UTC_MS_ID
    raise UnknownTimeZoneError(f"Cannot map time zone {tz!r} to a Windows time zone id")


def _ms_id_from_name(name: str) -> str:
    if name in MS_TIMEZONE_TO_IANA_MAP and name != "tzone://Microsoft/Utc":
        return name
    if name == "tzone://Microsoft/Utc":
        return UTC_MS_ID
    try:
        return IANA_TO_MS_TIMEZONE_MAP[name][0]
    except KeyError:
        raise UnknownTimeZoneError(f"No Windows time zone id for {name!r}") from None


def known_ms_ids() -> list[str]:
    """Every Windows id the simulator serves, in a stable order (CLDR's)."""
    return [ms_id for ms_id in MS_TIMEZONE_TO_IANA_MAP if not ms_id.startswith("tzone://")]


# --------------------------------------------------------------------------------------------
# Rules derived from zoneinfo
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayRule:
    """A Windows-style recurring transition: <occurrence>th <weekday> of <month> at <time>.

    ``time`` is the wall-clock time just before the change (Windows convention: the DST start
    is given in standard time, the DST end in daylight time). ``occurrence`` is 1..4 or LAST.
    """

    month: int
    weekday: int  # 0 = Monday
    occurrence: int
    time: dt.timedelta

    def date_in(self, year: int) -> dt.date:
        return nth_weekday(year, self.month, self.weekday, self.occurrence)


@dataclass(frozen=True)
class YearRule:
    """What one calendar year of a zone looks like: a standard offset and maybe a DST rule."""

    std_offset: dt.timedelta
    dst_offset: dt.timedelta | None = None
    dst_start: DayRule | None = None
    dst_end: DayRule | None = None


@dataclass(frozen=True)
class RuleGroup:
    """A run of consecutive years sharing one YearRule (one TransitionsGroup on the wire)."""

    first_year: int
    rule: YearRule


def nth_weekday(year: int, month: int, weekday: int, occurrence: int) -> dt.date:
    """The ``occurrence``th ``weekday`` (0 = Monday) of a month; 5 or -1 mean the last one."""
    last_day = calendar.monthrange(year, month)[1]
    if occurrence in (LAST, 5):
        last = dt.date(year, month, last_day)
        return last - dt.timedelta(days=(last.weekday() - weekday) % 7)
    if not 1 <= occurrence <= 4:
        raise ValueError(f"Occurrence must be 1..5 or -1, not {occurrence}")
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (occurrence - 1))


def _offset_at(tz: dt.tzinfo, instant: dt.datetime) -> dt.timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def _transitions(
    tz: dt.tzinfo, start: dt.datetime, end: dt.datetime
) -> Iterator[tuple[dt.datetime, dt.timedelta, dt.timedelta]]:
    """(utc instant, offset before, offset after) for each change in [start, end)."""
    here, before = start, _offset_at(tz, start)
    while here < end:
        there = min(here + _SCAN_STEP, end)
        after = _offset_at(tz, there)
        if after != before:
            # Bisect on whole seconds (zone changes fall on whole seconds): change in (lo, hi].
            lo, hi = int(here.timestamp()), int(there.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(tz, dt.datetime.fromtimestamp(mid, UTC)) == before:
                    lo = mid
                else:
                    hi = mid
            yield dt.datetime.fromtimestamp(hi, UTC), before, after
        here, before = there, after


def _day_rule(local: dt.datetime) -> DayRule:
    """Describe a local transition moment as "nth/last weekday of month at time"."""
    day = local.day
    days_in_month = calendar.monthrange(local.year, local.month)[1]
    # A date in the final seven days is "last": that is how almost every real rule is
    # written (EU: last Sunday), even when this year's last Sunday happens to be the 4th.
    occurrence = LAST if day + 7 > days_in_month else (day - 1) // 7 + 1
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return DayRule(local.month, local.weekday(), occurrence, local - midnight)


def _year_rule(
    changes: list[tuple[dt.datetime, dt.timedelta, dt.timedelta]],
    offset_at_new_year: dt.timedelta,
) -> YearRule:
    if not changes:
        return YearRule(std_offset=offset_at_new_year)
    offsets = {changes[0][1]} | {after for _, _, after in changes}
    returns_to_start = changes[-1][2] == changes[0][1]
    if len(changes) != 2 or len(offsets) != 2 or not returns_to_start:
        # A permanent change (a zone dropping DST, moving its standard offset): the yearly
        # SerializableTimeZone cannot express it, so the year uses the offset it ends with.
        return YearRule(std_offset=changes[-1][2])
    std_offset, dst_offset = min(offsets), max(offsets)
    start = next(c for c in changes if c[2] == dst_offset)
    end = next(c for c in changes if c[2] == std_offset)
    return YearRule(
        std_offset=std_offset,
        dst_offset=dst_offset,
        dst_start=_day_rule((start[0] + start[1]).replace(tzinfo=None)),
        dst_end=_day_rule((end[0] + end[1]).replace(tzinfo=None)),
    )


@functools.cache
def rule_groups(ms_id: str) -> tuple[RuleGroup, ...]:
    """The zone's yearly rules from FIRST_RULE_YEAR on, with identical years merged."""
    tz = tz_from_ms_id(ms_id)
    scan_start = dt.datetime(FIRST_RULE_YEAR - 1, 12, 31, tzinfo=UTC)
    scan_end = dt.datetime(LAST_RULE_YEAR + 1, 1, 2, tzinfo=UTC)
    by_year: dict[int, list[tuple[dt.datetime, dt.timedelta, dt.timedelta]]] = {}
    for change in _transitions(tz, scan_start, scan_end):
        local_year = (change[0] + change[1]).year  # a change belongs to its local year
        by_year.setdefault(local_year, []).append(change)
    groups: list[RuleGroup] = []
    for year in range(FIRST_RULE_YEAR, LAST_RULE_YEAR + 1):
        new_year = dt.datetime(year, 1, 1, tzinfo=tz).astimezone(UTC)
        rule = _year_rule(by_year.get(year, []), _offset_at(tz, new_year))
        if not groups or groups[-1].rule != rule:
            groups.append(RuleGroup(first_year=year, rule=rule))
    return tuple(groups)


def current_rule(ms_id: str) -> YearRule:
    return rule_groups(ms_id)[-1].rule


# --------------------------------------------------------------------------------------------
# GetServerTimeZones
# --------------------------------------------------------------------------------------------


def format_duration(delta: dt.timedelta) -> str:
    """xs:duration as Exchange writes biases and offsets: PT2H, -PT5H30M, PT0M."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    parts += f"{secs}S" if secs else ""
    return f"{sign}PT{parts or '0M'}"


@functools.cache
def display_name(ms_id: str) -> str:
    """A Windows-like display name, e.g. "(UTC+01:00) Berlin"."""
    if ms_id == UTC_MS_ID:
        return "(UTC) Coordinated Universal Time"
    offset = current_rule(ms_id).std_offset
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    city = MS_TIMEZONE_TO_IANA_MAP[ms_id].rsplit("/", 1)[-1].replace("_", " ")
    return f"(UTC{sign}{hours:02d}:{mins:02d}) {city}"


def _t(tag: str) -> str:
    return f"{{{T_NS}}}{tag}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    child = etree.SubElement(parent, _t(tag), attrs)
    if text is not None:
        child.text = text
    return child


def _period_id(ms_id: str, year: int, name: str) -> str:
    return f"trule:Microsoft/Registry/{ms_id}/{year}-{name}"


def _group_ids(count: int) -> list[str]:
    # exchangelib picks the group for a year by sorting transitions on the group id *as a
    # string*; zero-padding keeps that order chronological when a zone has ten or more groups.
    width = len(str(count - 1))
    return [str(i).zfill(width) for i in range(count)]


def _add_periods(periods: etree._Element, ms_id: str, group: RuleGroup) -> None:
    rule = group.rule
    if rule.dst_offset is not None:
        _sub(
            periods,
            "Period",
            Bias=format_duration(-rule.dst_offset),
            Name="Daylight",
            Id=_period_id(ms_id, group.first_year, "Daylight"),
        )
    _sub(
        periods,
        "Period",
        Bias=format_duration(-rule.std_offset),
        Name="Standard",
        Id=_period_id(ms_id, group.first_year, "Standard"),
    )


def _add_recurring(parent: etree._Element, period_id: str, rule: DayRule) -> None:
    transition = _sub(parent, "RecurringDayTransition")
    _sub(transition, "To", period_id, Kind="Period")
    _sub(transition, "TimeOffset", format_duration(rule.time))
    _sub(transition, "Month", str(rule.month))
    _sub(transition, "DayOfWeek", WEEKDAY_NAMES[rule.weekday])
    _sub(transition, "Occurrence", str(rule.occurrence))


def _add_group(parent: etree._Element, group_id: str, ms_id: str, group: RuleGroup) -> None:
    elem = _sub(parent, "TransitionsGroup", Id=group_id)
    rule, year = group.rule, group.first_year
    standard_id = _period_id(ms_id, year, "Standard")
    if rule.dst_start is None or rule.dst_end is None:
        # No DST: a single plain transition into the standard period, as Exchange sends for
        # e.g. "India Standard Time". exchangelib turns that into zero-bias dummy rules.
        _sub(_sub(elem, "Transition"), "To", standard_id, Kind="Period")
        return
    daylight_id = _period_id(ms_id, year, "Daylight")
    moves = [(rule.dst_start, daylight_id), (rule.dst_end, standard_id)]
    for day_rule, period_id in sorted(moves, key=lambda move: move[0].month):
        _add_recurring(elem, period_id, day_rule)


def _add_transitions(
    parent: etree._Element, group_ids: list[str], groups: Sequence[RuleGroup]
) -> None:
    transitions = _sub(parent, "Transitions")
    _sub(_sub(transitions, "Transition"), "To", group_ids[0], Kind="Group")
    for group_id, group in zip(group_ids[1:], groups[1:], strict=True):
        absolute = _sub(transitions, "AbsoluteDateTransition")
        _sub(absolute, "To", group_id, Kind="Group")
        _sub(absolute, "DateTime", f"{group.first_year:04d}-01-01T00:00:00")


def timezone_definition(ms_id: str, full: bool) -> etree._Element:
    """One ``t:TimeZoneDefinition`` for a Windows id (always a fresh element)."""
    tz_from_ms_id(ms_id)  # raise UnknownTimeZoneError early
    elem = etree.Element(_t("TimeZoneDefinition"), {"Id": ms_id}, nsmap={"t": T_NS})
    elem.set("Name", display_name(ms_id))
    if not full:
        return elem
    groups = rule_groups(ms_id)
    group_ids = _group_ids(len(groups))
    periods = _sub(elem, "Periods")
    for group in groups:
        _add_periods(periods, ms_id, group)
    groups_elem = _sub(elem, "TransitionsGroups")
    for group_id, group in zip(group_ids, groups, strict=True):
        _add_group(groups_elem, group_id, ms_id, group)
    _add_transitions(elem, group_ids, groups)
    return elem


def server_timezone_definitions(ids: Sequence[str] | None, full: bool) -> list[etree._Element]:
    """``t:TimeZoneDefinition`` elements as Exchange answers GetServerTimeZones.

    ``ids=None`` lists every zone. Ids may be Windows ids or (leniently) IANA keys; an unknown id
    raises UnknownTimeZoneError.
    """
    ms_ids = known_ms_ids() if ids is None else [_ms_id_from_name(i) for i in ids]
    return [timezone_definition(ms_id, full) for ms_id in ms_ids]


# --------------------------------------------------------------------------------------------
# The SerializableTimeZone of GetUserAvailabilityRequest
# --------------------------------------------------------------------------------------------


class SerializableTimeZone(dt.tzinfo):
    """A tzinfo applying one Windows-style yearly rule to every year.

    DST runs from the daylight transition (given in standard wall time) to the standard
    transition (given in daylight wall time); when the daylight month comes after the standard
    month (southern hemisphere) DST spans the new year. Local times in the spring gap or the
    autumn overlap follow PEP 495: fold=0 means the offset in force before the change.
    """

    def __init__(
        self,
        std_offset: dt.timedelta,
        dst_offset: dt.timedelta | None = None,
        dst_start: DayRule | None = None,
        dst_end: DayRule | None = None,
    ) -> None:
        self.std_offset = std_offset
        has_dst = dst_offset is not None and dst_offset != std_offset
        self.dst_offset = dst_offset if has_dst else None
        self.dst_start = dst_start if has_dst else None
        self.dst_end = dst_end if has_dst else None
        self._bounds: dict[int, tuple[dt.datetime, dt.datetime]] = {}

    def __repr__(self) -> str:
        return (
            f"SerializableTimeZone(std_offset={self.std_offset!r}, dst_offset={self.dst_offset!r},"
            f" dst_start={self.dst_start!r}, dst_end={self.dst_end!r})"
        )

    def _utc_bounds(self, year: int) -> tuple[dt.datetime, dt.datetime]:
        """Naive UTC instants at which DST starts and ends in ``year``."""
        if year not in self._bounds:
            assert self.dst_start and self.dst_end and self.dst_offset is not None
            start_local = dt.datetime.combine(self.dst_start.date_in(year), dt.time())
            end_local = dt.datetime.combine(self.dst_end.date_in(year), dt.time())
            self._bounds[year] = (
                start_local + self.dst_start.time - self.std_offset,
                end_local + self.dst_end.time - self.dst_offset,
            )
        return self._bounds[year]

    def _is_dst_at_utc(self, utc: dt.datetime) -> bool:
        if self.dst_offset is None:
            return False
        start, end = self._utc_bounds((utc + self.std_offset).year)
        if start < end:
            return start <= utc < end
        return utc >= start or utc < end  # southern hemisphere: DST across the new year

    def _offset_at_utc(self, utc: dt.datetime) -> dt.timedelta:
        if self._is_dst_at_utc(utc):
            assert self.dst_offset is not None
            return self.dst_offset
        return self.std_offset

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        if when is None or self.dst_offset is None:
            return self.std_offset
        local = when.replace(tzinfo=None)
        valid = [
            offset
            for offset in (self.std_offset, self.dst_offset)
            if self._offset_at_utc(local - offset) == offset
        ]
        if len(valid) == 1:
            return valid[0]
        if len(valid) == 2:  # overlap: fold=0 is the earlier instant, i.e. the larger offset
            larger, smaller = max(valid), min(valid)
            return smaller if when.fold else larger
        # gap: fold=0 keeps the offset before the change (the smaller one)
        larger = max(self.std_offset, self.dst_offset)
        smaller = min(self.std_offset, self.dst_offset)
        return larger if when.fold else smaller

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        return self.utcoffset(when) - self.std_offset

    def tzname(self, when: dt.datetime | None) -> str:
        offset = self.utcoffset(when)
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def fromutc(self, when: dt.datetime) -> dt.datetime:
        if when.tzinfo is not self:
            raise ValueError("fromutc: dt.tzinfo is not self")
        utc = when.replace(tzinfo=None)
        if self.dst_offset is None:  # a fixed offset (UTC, what the app asks in): no fold
            return (utc + self.std_offset).replace(tzinfo=self)
        local = utc + self._offset_at_utc(utc)
        # Mark the second pass through an overlap so that utcoffset() round-trips.
        fold = int(self._offset_at_utc(utc) != self.utcoffset(local))
        return local.replace(tzinfo=self, fold=fold)


def _child_text(elem: etree._Element, tag: str) -> str | None:
    child = elem.find(_t(tag))
    return None if child is None or child.text is None else child.text.strip()


def _required_int(elem: etree._Element, tag: str) -> int:
    text = _child_text(elem, tag)
    if text is None:
        raise ValueError(f"TimeZone: missing {tag} in {etree.QName(elem).localname}")
    return int(text)


def _parse_time_of_day(text: str) -> dt.timedelta:
    clock = dt.time.fromisoformat(text)
    return dt.timedelta(
        hours=clock.hour, minutes=clock.minute, seconds=clock.second, microseconds=clock.microsecond
    )


def _parse_zone_time(elem: etree._Element) -> tuple[int, DayRule | None]:
    """(bias, rule) of a StandardTime/DaylightTime element; rule None when Month is 0."""
    bias = _required_int(elem, "Bias")
    month = _required_int(elem, "Month")
    if month == 0:  # Windows writes an empty SYSTEMTIME (month 0) for "no transition"
        return bias, None
    weekday_name = _child_text(elem, "DayOfWeek")
    if weekday_name not in WEEKDAY_NAMES:
        raise ValueError(f"TimeZone: bad DayOfWeek {weekday_name!r}")
    occurrence = _required_int(elem, "DayOrder")
    time_text = _child_text(elem, "Time") or "00:00:00"
    rule = DayRule(
        month, WEEKDAY_NAMES.index(weekday_name), occurrence, _parse_time_of_day(time_text)
    )
    rule.date_in(2000)  # validates month and occurrence
    return bias, rule


def tz_from_request_timezone(elem: etree._Element) -> dt.tzinfo:
    """A tzinfo for the ``t:TimeZone`` (SerializableTimeZone) of GetUserAvailabilityRequest.

    The optional Year element is ignored: exchangelib never sends it, and a single yearly rule
    is all a SerializableTimeZone can describe anyway.
    """
    bias = _required_int(elem, "Bias")
    standard, daylight = elem.find(_t("StandardTime")), elem.find(_t("DaylightTime"))
    if standard is None or daylight is None:
        return dt.timezone(-dt.timedelta(minutes=bias))
    std_bias, std_rule = _parse_zone_time(standard)
    dst_bias, dst_rule = _parse_zone_time(daylight)
    std_offset = -dt.timedelta(minutes=bias + std_bias)
    dst_offset = -dt.timedelta(minutes=bias + dst_bias)
    if std_rule is None or dst_rule is None or std_offset == dst_offset:
        return SerializableTimeZone(std_offset)
    return SerializableTimeZone(std_offset, dst_offset, dst_rule, std_rule)


def format_local(when: dt.datetime, tz: dt.tzinfo) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in ``tz``, without offset (how free/busy events are written)."""
    if when.tzinfo is None:
        raise ValueError(f"format_local needs an aware datetime, got {when!r}")
    # A fixed offset (UTC, which the app asks in) is added, not looked up through fromutc;
    # isoformat rather than strftime: a free/busy answer writes two of these per event and
    # they were a quarter of the simulator's time answering one.
    if isinstance(tz, SerializableTimeZone) and tz.dst_offset is None:
        local = when.astimezone(dt.UTC).replace(tzinfo=None) + tz.std_offset
    else:
        local = when.astimezone(tz).replace(tzinfo=None)
    return local.replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------------------------
# Datetimes in requests and the TimeZoneContext header
# --------------------------------------------------------------------------------------------

_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def parse_ews_datetime(text: str, default_tz: dt.tzinfo | None) -> dt.datetime:
    """An xs:dateTime from a request as an aware UTC datetime.

    Values with ``Z`` or an offset are absolute. A naive value is local time in ``default_tz``
    (the request's TimeZoneContext; UTC when there is none, as Exchange assumes).
    """
    text = text.strip()
    if not _DATETIME_RE.match(text):
        raise ValueError(f"Invalid xs:dateTime {text!r}")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) not in (3, 6):
        # fromisoformat in 3.11 only takes 3 or 6 digits; xs:dateTime allows any number.
        digits = (fraction.group(1) + "000000")[:6]
        text = text.replace(fraction.group(0), "." + digits, 1)
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz or UTC)
    return parsed.astimezone(UTC)


def tz_from_timezone_context(header: etree._Element | None) -> dt.tzinfo:
    """The zone named by ``t:TimeZoneContext/t:TimeZoneDefinition/@Id`` (UTC when absent).

    ``header`` may be the SOAP Header, the TimeZoneContext itself, or None.
    """
    if header is None:
        return zoneinfo.ZoneInfo("UTC")
    if etree.QName(header).localname == "TimeZoneContext":
        context: etree._Element | None = header
    else:
        context = header.find(_t("TimeZoneContext"))
    if context is None:
        return zoneinfo.ZoneInfo("UTC")
    definition = context.find(_t("TimeZoneDefinition"))
    ms_id = definition.get("Id") if definition is not None else None
    if not ms_id:
        raise ValueError("TimeZoneContext without a TimeZoneDefinition Id")
    return tz_from_ms_id(ms_id)
