"""Recurrence parsing, serialisation and expansion for the EWS simulator."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import zoneinfo
from pathlib import Path

import pytest
from exchangelib.ewsdatetime import EWSDate
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DailyRegeneration,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as ExchangelibRecurrence
from exchangelib.recurrence import TaskRecurrence as ExchangelibTaskRecurrence
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from calendars.simulator import recurrence as recmod
from calendars.simulator.recurrence import (
    T_NS,
    Occurrence,
    Recurrence,
    all_day_bounds,
    expand,
    parse_recurrence,
    recurrence_to_xml,
)

SCHEMA_DIR = Path("/work/shared/ews-schema")
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
UTC = dt.UTC
LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
FAR_PAST = dt.datetime(1990, 1, 1, tzinfo=UTC)
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=UTC)

needs_schema = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason="EWS schema folder is absent")


@functools.cache
def messages_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "messages.xsd")))


def t(tag: str) -> str:
    return f"{{{T_NS}}}{tag}"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(tz: zoneinfo.ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def weekly(days: set[int], start: dt.date, **kwargs: object) -> Recurrence:
    return Recurrence(
        pattern="weekly",
        interval=kwargs.pop("interval", 1),  # type: ignore[arg-type]
        weekdays=frozenset(days),
        start_date=start,
        **kwargs,  # type: ignore[arg-type]
    )


def from_exchangelib(recurrence: ExchangelibRecurrence) -> Recurrence:
    """Parse a recurrence exactly as exchangelib serialises it into CreateItem."""
    return parse_recurrence(recurrence.to_xml(version=None))


def starts(occurrences: list[Occurrence], tz: zoneinfo.ZoneInfo) -> list[str]:
    return [o.start.astimezone(tz).strftime("%a %Y-%m-%d %H:%M") for o in occurrences]


# ----------------------------------------------------------------------------- parsing


def test_a_daily_pattern_with_no_end_parses_from_exchangelib() -> None:
    rec = from_exchangelib(
        ExchangelibRecurrence(pattern=DailyPattern(interval=3), start=EWSDate(2026, 12, 1))
    )
    assert rec == Recurrence(pattern="daily", interval=3, start_date=dt.date(2026, 12, 1))


def test_a_weekly_pattern_keeps_its_days_and_first_day_of_week() -> None:
    pattern = WeeklyPattern(interval=2, weekdays=["Monday", "Wednesday"], first_day_of_week=7)
    rec = from_exchangelib(
        ExchangelibRecurrence(pattern=pattern, start=EWSDate(2026, 12, 1), number=10)
    )
    assert rec == Recurrence(
        pattern="weekly",
        interval=2,
        weekdays=frozenset({0, 2}),
        first_day_of_week=6,
        start_date=dt.date(2026, 12, 1),
        number_of_occurrences=10,
    )


def test_an_end_date_range_parses_both_dates() -> None:
    rec = from_exchangelib(
        ExchangelibRecurrence(
            pattern=DailyPattern(interval=1), start=EWSDate(2026, 12, 1), end=EWSDate(2026, 12, 24)
        )
    )
    assert (rec.start_date, rec.end_date, rec.number_of_occurrences) == (
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 24),
        None,
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            AbsoluteMonthlyPattern(interval=2, day_of_month=31),
            {"pattern": "absolute_monthly", "interval": 2, "day_of_month": 31},
        ),
        (
            RelativeMonthlyPattern(interval=1, weekday="Friday", week_number="Last"),
            {
                "pattern": "relative_monthly",
                "interval": 1,
                "weekdays": frozenset({4}),
                "day_of_week_index": 5,
            },
        ),
        (
            RelativeMonthlyPattern(interval=1, weekday="Weekday", week_number="Second"),
            {
                "pattern": "relative_monthly",
                "interval": 1,
                "weekdays": frozenset(range(5)),
                "day_of_week_index": 2,
            },
        ),
        (
            AbsoluteYearlyPattern(day_of_month=29, month="February"),
            {"pattern": "absolute_yearly", "interval": 1, "day_of_month": 29, "month": 2},
        ),
        (
            RelativeYearlyPattern(weekday="Thursday", week_number="Fourth", month="November"),
            {
                "pattern": "relative_yearly",
                "interval": 1,
                "weekdays": frozenset({3}),
                "day_of_week_index": 4,
                "month": 11,
            },
        ),
    ],
)
def test_monthly_and_yearly_patterns_parse_from_exchangelib(
    pattern: object, expected: dict[str, object]
) -> None:
    rec = from_exchangelib(ExchangelibRecurrence(pattern=pattern, start=EWSDate(2026, 12, 1)))
    assert rec == Recurrence(start_date=dt.date(2026, 12, 1), **expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["2026-12-01", "2026-12-01Z", "2026-12-01+01:00", "2026-12-01-08:00"]
)
def test_range_dates_are_read_as_local_dates_whatever_offset_they_carry(text: str) -> None:
    elem = ExchangelibRecurrence(
        pattern=DailyPattern(interval=1), start=EWSDate(2026, 1, 1)
    ).to_xml(version=None)
    elem.find(f"{t('NoEndRecurrence')}/{t('StartDate')}").text = text
    assert parse_recurrence(elem).start_date == dt.date(2026, 12, 1)


def test_a_task_regeneration_pattern_is_refused_with_a_clear_message() -> None:
    elem = ExchangelibTaskRecurrence(
        pattern=DailyRegeneration(interval=1), boundary=NoEndPattern(start=EWSDate(2026, 12, 1))
    ).to_xml(version=None)
    with pytest.raises(ValueError, match="Unsupported recurrence element 'DailyRegeneration'"):
        parse_recurrence(elem)


def test_a_recurrence_without_a_range_is_refused() -> None:
    elem = etree.Element(t("Recurrence"))
    pattern = etree.SubElement(elem, t("DailyRecurrence"))
    etree.SubElement(pattern, t("Interval")).text = "1"
    with pytest.raises(ValueError, match="no range"):
        parse_recurrence(elem)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: setattr(e.find(f".//{t('Interval')}"), "text", "0"), "Interval 0"),
        (lambda e: setattr(e.find(f".//{t('DaysOfWeek')}"), "text", "Funday"), "Funday"),
        (lambda e: setattr(e.find(f".//{t('StartDate')}"), "text", "soon"), "invalid date"),
        (lambda e: setattr(e.find(f".//{t('NumberOfOccurrences')}"), "text", "x"), "integer"),
    ],
)
def test_malformed_recurrences_raise_value_errors(mutate: object, message: str) -> None:
    elem = ExchangelibRecurrence(
        pattern=WeeklyPattern(interval=1, weekdays=["Monday"]), start=EWSDate(2026, 12, 1), number=3
    ).to_xml(version=None)
    mutate(elem)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        parse_recurrence(elem)


# --------------------------------------------------------------------------- serialising

ALL_KINDS = [
    Recurrence(pattern="daily", interval=2, start_date=dt.date(2027, 1, 4)),
    weekly({0, 2, 4}, dt.date(2027, 1, 4), interval=2, number_of_occurrences=12),
    weekly({6}, dt.date(2027, 1, 4), first_day_of_week=6, end_date=dt.date(2027, 6, 30)),
    Recurrence(
        pattern="absolute_monthly", interval=1, day_of_month=31, start_date=dt.date(2027, 1, 4)
    ),
    Recurrence(
        pattern="relative_monthly",
        interval=3,
        weekdays=frozenset({5, 6}),
        day_of_week_index=1,
        start_date=dt.date(2027, 1, 4),
    ),
    Recurrence(
        pattern="absolute_yearly",
        interval=1,
        day_of_month=14,
        month=2,
        start_date=dt.date(2027, 1, 4),
    ),
    Recurrence(
        pattern="relative_yearly",
        interval=1,
        weekdays=frozenset({0}),
        day_of_week_index=5,
        month=5,
        start_date=dt.date(2027, 1, 4),
        number_of_occurrences=4,
    ),
]


@pytest.mark.parametrize("rec", ALL_KINDS, ids=lambda r: r.pattern)
def test_every_pattern_round_trips_through_xml(rec: Recurrence) -> None:
    assert parse_recurrence(recurrence_to_xml(rec, NEW_YORK)) == rec


@needs_schema
@pytest.mark.parametrize("rec", ALL_KINDS, ids=lambda r: r.pattern)
def test_serialised_recurrences_validate_against_the_ews_schema(rec: Recurrence) -> None:
    create = etree.Element(f"{{{M_NS}}}CreateItem", nsmap={"m": M_NS, "t": T_NS})
    item = etree.SubElement(etree.SubElement(create, f"{{{M_NS}}}Items"), t("CalendarItem"))
    item.append(recurrence_to_xml(rec, LONDON))
    schema = messages_schema()
    assert schema.validate(create), schema.error_log


def test_a_weekly_recurrence_is_written_as_exchange_returns_it() -> None:
    rec = weekly({2, 0}, dt.date(2027, 7, 5), number_of_occurrences=5)
    elem = recurrence_to_xml(rec, LONDON)
    assert elem.findtext(f"{t('WeeklyRecurrence')}/{t('DaysOfWeek')}") == "Monday Wednesday"
    assert elem.findtext(f"{t('WeeklyRecurrence')}/{t('FirstDayOfWeek')}") == "Monday"
    assert elem.findtext(f"{t('NumberedRecurrence')}/{t('StartDate')}") == "2027-07-05+01:00"
    assert elem.findtext(f"{t('NumberedRecurrence')}/{t('NumberOfOccurrences')}") == "5"


def test_exchangelib_reads_the_written_range_dates_as_the_same_dates() -> None:
    rec = weekly({0}, dt.date(2027, 1, 4), end_date=dt.date(2027, 3, 1))
    for tz in (None, LONDON, NEW_YORK, SYDNEY):
        parsed = ExchangelibRecurrence.from_xml(recurrence_to_xml(rec, tz), account=None)
        assert isinstance(parsed.boundary, EndDatePattern)
        assert parsed.boundary.start == EWSDate(2027, 1, 4)
        assert parsed.boundary.end == EWSDate(2027, 3, 1)
        assert type(parsed.boundary.start) is EWSDate
    numbered = ExchangelibRecurrence.from_xml(
        recurrence_to_xml(weekly({0}, dt.date(2027, 1, 4), number_of_occurrences=3)), account=None
    )
    assert isinstance(numbered.boundary, NumberedPattern)
    assert numbered.boundary.number == 3


# ------------------------------------------------------------------------------ expanding


def test_a_weekly_meeting_keeps_its_local_time_across_the_spring_change() -> None:
    rec = weekly({0}, dt.date(2027, 3, 15))
    first = local(LONDON, 2027, 3, 15, 9)
    occurrences = list(
        expand(first, first + dt.timedelta(hours=1), LONDON, rec, utc(2027, 3, 1), utc(2027, 4, 6))
    )
    assert [o.start for o in occurrences] == [
        utc(2027, 3, 15, 9),
        utc(2027, 3, 22, 9),
        utc(2027, 3, 29, 8),
        utc(2027, 4, 5, 8),
    ]
    assert all(o.end - o.start == dt.timedelta(hours=1) for o in occurrences)
    assert [o.index for o in occurrences] == [1, 2, 3, 4]


def test_a_weekly_meeting_keeps_its_local_time_across_the_autumn_change() -> None:
    rec = weekly({4}, dt.date(2027, 10, 1))
    first = local(LONDON, 2027, 10, 22, 9)
    occurrences = list(
        expand(
            first, first + dt.timedelta(hours=1), LONDON, rec, utc(2027, 10, 20), utc(2027, 11, 6)
        )
    )
    assert [o.start for o in occurrences] == [
        utc(2027, 10, 22, 8),
        utc(2027, 10, 29, 8),
        utc(2027, 11, 5, 9),
    ]
    assert starts(occurrences, LONDON) == [
        "Fri 2027-10-22 09:00",
        "Fri 2027-10-29 09:00",
        "Fri 2027-11-05 09:00",
    ]


def test_every_other_week_on_two_days_skips_the_odd_weeks() -> None:
    rec = weekly({0, 2}, dt.date(2027, 1, 4), interval=2)
    first = local(NEW_YORK, 2027, 1, 4, 14)
    occurrences = list(
        expand(
            first, first + dt.timedelta(minutes=30), NEW_YORK, rec, utc(2027, 1, 1), utc(2027, 2, 1)
        )
    )
    assert starts(occurrences, NEW_YORK) == [
        "Mon 2027-01-04 14:00",
        "Wed 2027-01-06 14:00",
        "Mon 2027-01-18 14:00",
        "Wed 2027-01-20 14:00",
    ]


def test_the_week_of_the_start_date_counts_from_the_first_day_of_week() -> None:
    # Starting on a Wednesday with Sunday-first weeks: Sunday the 3rd is before the start,
    # Wednesday the 6th is the first occurrence, then Sunday the 17th (two weeks on).
    rec = weekly({6, 2}, dt.date(2027, 1, 6), interval=2, first_day_of_week=6)
    first = local(NEW_YORK, 2027, 1, 6, 10)
    occurrences = list(expand(first, first, NEW_YORK, rec, utc(2027, 1, 1), utc(2027, 1, 25)))
    assert starts(occurrences, NEW_YORK) == [
        "Wed 2027-01-06 10:00",
        "Sun 2027-01-17 10:00",
        "Wed 2027-01-20 10:00",
    ]
    assert [o.index for o in occurrences] == [1, 2, 3]


def test_an_end_date_is_inclusive() -> None:
    rec = Recurrence(
        pattern="daily", interval=1, start_date=dt.date(2027, 5, 1), end_date=dt.date(2027, 5, 3)
    )
    first = local(LONDON, 2027, 5, 1, 23)
    occurrences = list(
        expand(first, first + dt.timedelta(hours=2), LONDON, rec, FAR_PAST, FAR_FUTURE)
    )
    assert starts(occurrences, LONDON) == [
        "Sat 2027-05-01 23:00",
        "Sun 2027-05-02 23:00",
        "Mon 2027-05-03 23:00",
    ]


def test_a_numbered_series_stops_after_its_count_even_when_occurrences_are_deleted() -> None:
    rec = weekly({1, 3}, dt.date(2027, 6, 1), number_of_occurrences=5)
    first = local(SYDNEY, 2027, 6, 1, 8)
    deleted = frozenset({dt.date(2027, 6, 3)})
    occurrences = list(
        expand(first, first + dt.timedelta(hours=1), SYDNEY, rec, FAR_PAST, FAR_FUTURE, deleted)
    )
    assert starts(occurrences, SYDNEY) == [
        "Tue 2027-06-01 08:00",
        "Tue 2027-06-08 08:00",
        "Thu 2027-06-10 08:00",
        "Tue 2027-06-15 08:00",
    ]
    assert [o.index for o in occurrences] == [1, 3, 4, 5]


def test_an_occurrence_overlapping_the_window_edge_is_included() -> None:
    rec = Recurrence(pattern="daily", interval=1, start_date=dt.date(2027, 1, 1))
    first = local(UTC_ZONE := zoneinfo.ZoneInfo("UTC"), 2027, 1, 1, 9)
    end = first + dt.timedelta(hours=2)
    overlapping = list(
        expand(first, end, UTC_ZONE, rec, utc(2027, 1, 5, 10), utc(2027, 1, 5, 10, 30))
    )
    assert [o.start for o in overlapping] == [utc(2027, 1, 5, 9)]
    touching_end = list(expand(first, end, UTC_ZONE, rec, utc(2027, 1, 5, 11), utc(2027, 1, 6, 9)))
    assert touching_end == []


def test_a_meeting_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    # London skips 01:00-02:00 on 28 March 2027: a 01:30 meeting happens at 02:30 BST that day.
    rec = Recurrence(pattern="daily", interval=1, start_date=dt.date(2027, 3, 27))
    first = local(LONDON, 2027, 3, 27, 1, 30)
    occurrences = list(
        expand(
            first, first + dt.timedelta(minutes=30), LONDON, rec, utc(2027, 3, 27), utc(2027, 3, 30)
        )
    )
    assert [o.start for o in occurrences] == [
        utc(2027, 3, 27, 1, 30),
        utc(2027, 3, 28, 1, 30),
        utc(2027, 3, 29, 0, 30),
    ]
    assert starts(occurrences, LONDON)[1] == "Sun 2027-03-28 02:30"


def test_a_meeting_at_a_repeated_autumn_time_takes_the_first_one() -> None:
    rec = Recurrence(pattern="daily", interval=1, start_date=dt.date(2027, 10, 30))
    first = local(LONDON, 2027, 10, 30, 1, 30)
    occurrences = list(
        expand(
            first,
            first + dt.timedelta(minutes=15),
            LONDON,
            rec,
            utc(2027, 10, 31),
            utc(2027, 11, 1),
        )
    )
    assert [o.start for o in occurrences] == [utc(2027, 10, 31, 0, 30)]


def test_monthly_on_the_31st_falls_on_the_last_day_of_shorter_months() -> None:
    rec = Recurrence(
        pattern="absolute_monthly", interval=1, day_of_month=31, start_date=dt.date(2027, 1, 1)
    )
    first = local(LONDON, 2027, 1, 31, 12)
    occurrences = list(expand(first, first, LONDON, rec, utc(2027, 1, 1), utc(2027, 5, 1)))
    assert [o.start.date() for o in occurrences] == [
        dt.date(2027, 1, 31),
        dt.date(2027, 2, 28),
        dt.date(2027, 3, 31),
        dt.date(2027, 4, 30),
    ]


def test_relative_monthly_and_yearly_patterns_pick_the_right_days() -> None:
    last_friday = Recurrence(
        pattern="relative_monthly",
        interval=1,
        weekdays=frozenset({4}),
        day_of_week_index=5,
        start_date=dt.date(2027, 1, 1),
    )
    second_weekday = Recurrence(
        pattern="relative_monthly",
        interval=2,
        weekdays=frozenset(range(5)),
        day_of_week_index=2,
        start_date=dt.date(2027, 1, 1),
    )
    thanksgiving = Recurrence(
        pattern="relative_yearly",
        interval=1,
        weekdays=frozenset({3}),
        day_of_week_index=4,
        month=11,
        start_date=dt.date(2027, 1, 1),
    )
    first = local(NEW_YORK, 2027, 1, 1, 12)

    def dates(rec: Recurrence, until: dt.datetime) -> list[dt.date]:
        return [o.start.date() for o in expand(first, first, NEW_YORK, rec, FAR_PAST, until)]

    assert dates(last_friday, utc(2027, 4, 1)) == [
        dt.date(2027, 1, 29),
        dt.date(2027, 2, 26),
        dt.date(2027, 3, 26),
    ]
    assert dates(second_weekday, utc(2027, 6, 1)) == [
        dt.date(2027, 1, 4),
        dt.date(2027, 3, 2),
        dt.date(2027, 5, 4),
    ]
    assert dates(thanksgiving, utc(2030, 1, 1)) == [
        dt.date(2027, 11, 25),
        dt.date(2028, 11, 23),
        dt.date(2029, 11, 22),
    ]


def test_a_yearly_date_before_the_start_month_begins_the_next_year() -> None:
    rec = Recurrence(
        pattern="absolute_yearly",
        interval=1,
        day_of_month=14,
        month=2,
        start_date=dt.date(2027, 6, 1),
    )
    first = local(LONDON, 2028, 2, 14, 12)
    occurrences = list(expand(first, first, LONDON, rec, FAR_PAST, utc(2030, 1, 1)))
    assert [o.start.date() for o in occurrences] == [
        dt.date(2028, 2, 14),
        dt.date(2029, 2, 14),
    ]
    assert [o.index for o in occurrences] == [1, 2]


def test_an_all_day_series_stays_midnight_to_midnight_on_short_and_long_days() -> None:
    rec = Recurrence(pattern="daily", interval=1, start_date=dt.date(2027, 3, 27))
    first_start, first_end = all_day_bounds(dt.date(2027, 3, 27), dt.date(2027, 3, 28), LONDON)
    occurrences = list(
        expand(first_start, first_end, LONDON, rec, utc(2027, 3, 27), utc(2027, 3, 29, 12))
    )
    assert [(o.start, o.end) for o in occurrences] == [
        (utc(2027, 3, 27), utc(2027, 3, 28)),
        (utc(2027, 3, 28), utc(2027, 3, 28, 23)),  # the 23-hour day
        (utc(2027, 3, 28, 23), utc(2027, 3, 29, 23)),
    ]


def test_all_day_bounds_are_local_midnights_of_the_events_zone() -> None:
    assert all_day_bounds(dt.date(2027, 10, 31), dt.date(2027, 11, 1), LONDON) == (
        utc(2027, 10, 30, 23),
        utc(2027, 11, 1),
    )
    assert all_day_bounds(dt.date(2027, 7, 4), dt.date(2027, 7, 6), NEW_YORK) == (
        utc(2027, 7, 4, 4),
        utc(2027, 7, 6, 4),
    )
    # Santiago skips midnight in September: the day starts at the first instant that exists.
    santiago = zoneinfo.ZoneInfo("America/Santiago")
    start, _ = all_day_bounds(dt.date(2027, 9, 5), dt.date(2027, 9, 6), santiago)
    assert start.astimezone(santiago).strftime("%H:%M") == "01:00"


def test_a_no_end_series_from_2000_jumps_straight_to_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    real = recmod._period_dates

    def counting(rec: Recurrence, period: int) -> list[dt.date]:
        nonlocal calls
        calls += 1
        return real(rec, period)

    monkeypatch.setattr(recmod, "_period_dates", counting)
    rec = weekly({0, 2, 4}, dt.date(2000, 1, 3))
    first = local(LONDON, 2000, 1, 3, 9)
    occurrences = list(
        expand(first, first + dt.timedelta(hours=1), LONDON, rec, utc(2027, 1, 1), utc(2027, 4, 1))
    )

    def mon_wed_fri(first_day: dt.date, last_day: dt.date) -> list[dt.date]:
        days = (first_day + dt.timedelta(days=n) for n in range((last_day - first_day).days + 1))
        return [day for day in days if day.weekday() in (0, 2, 4)]

    in_window = mon_wed_fri(dt.date(2027, 1, 1), dt.date(2027, 3, 31))
    assert [o.start.date() for o in occurrences] == in_window
    assert occurrences[0].index == len(mon_wed_fri(dt.date(2000, 1, 3), dt.date(2027, 1, 1)))
    assert calls < 25


def test_naive_master_times_are_refused() -> None:
    rec = Recurrence(pattern="daily", interval=1, start_date=dt.date(2027, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        list(
            expand(
                dt.datetime(2027, 1, 1, 9),
                dt.datetime(2027, 1, 1, 10),
                LONDON,
                rec,
                FAR_PAST,
                FAR_FUTURE,
            )
        )


def test_a_recurrence_cannot_have_both_an_end_date_and_a_count() -> None:
    with pytest.raises(ValueError, match="either"):
        weekly({0}, dt.date(2027, 1, 1), end_date=dt.date(2027, 2, 1), number_of_occurrences=3)


# ------------------------------------------------------------------------------ properties

ZONES = [LONDON, NEW_YORK, SYDNEY, zoneinfo.ZoneInfo("Asia/Kolkata"), zoneinfo.ZoneInfo("UTC")]


def week_one(rec: Recurrence) -> dt.date:
    """First day of the week holding the range's start date (the series' weeks count from it)."""
    return rec.start_date - dt.timedelta(
        days=(rec.start_date.weekday() - rec.first_day_of_week) % 7
    )


def first_pattern_date(rec: Recurrence) -> dt.date:
    day = rec.start_date
    while day.weekday() not in rec.weekdays or ((day - week_one(rec)).days // 7) % rec.interval:
        day += dt.timedelta(days=1)
    return day


@st.composite
def weekly_series(
    draw: st.DrawFn,
) -> tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence]:
    tz = draw(st.sampled_from(ZONES))
    start_date = draw(st.dates(dt.date(2026, 1, 1), dt.date(2028, 12, 31)))
    weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1))
    rec = Recurrence(
        pattern="weekly",
        interval=draw(st.integers(1, 4)),
        weekdays=weekdays,
        first_day_of_week=draw(st.integers(0, 6)),
        start_date=start_date,
    )
    first_date = first_pattern_date(rec)
    range_kind = draw(st.sampled_from(["none", "end", "count"]))
    if range_kind == "end":
        # An end date before the first pattern date would make an empty series.
        end_date = first_date + dt.timedelta(days=draw(st.integers(0, 400)))
        rec = dataclasses.replace(rec, end_date=end_date)
    elif range_kind == "count":
        rec = dataclasses.replace(rec, number_of_occurrences=draw(st.integers(1, 60)))
    # Hours 4..22 stay clear of every DST gap in these zones, so local times are exact.
    time_of_day = dt.time(draw(st.integers(4, 22)), draw(st.sampled_from([0, 15, 30, 45])))
    start = dt.datetime.combine(first_date, time_of_day, tzinfo=tz)
    end = start + dt.timedelta(minutes=draw(st.integers(0, 600)))
    return start, end, tz, rec


@st.composite
def windows(draw: st.DrawFn) -> tuple[dt.datetime, dt.datetime]:
    window_start = utc(2026, 1, 1) + dt.timedelta(hours=draw(st.integers(0, 4 * 365 * 24)))
    return window_start, window_start + dt.timedelta(hours=draw(st.integers(1, 120 * 24)))


def in_window(occurrence: Occurrence, window_start: dt.datetime, window_end: dt.datetime) -> bool:
    """CalendarView's rule: overlapping the window; a zero-length item by its start."""
    if occurrence.start == occurrence.end:
        return window_start <= occurrence.start < window_end
    return occurrence.start < window_end and occurrence.end > window_start


def full_expansion(
    series: tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence],
) -> list[Occurrence]:
    start, end, tz, rec = series
    # Far enough ahead for the longest generated series (count 60 x every 4 weeks from 2030).
    return list(expand(start, end, tz, rec, FAR_PAST, utc(2100, 1, 1)))


@settings(max_examples=150, deadline=None)
@given(weekly_series())
def test_every_occurrence_is_on_an_allowed_weekday_at_the_masters_local_time(
    series: tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence],
) -> None:
    start, end, tz, rec = series
    occurrences = full_expansion(series)
    assert occurrences, "a series always has its first occurrence"
    assert occurrences[0].start == start.astimezone(UTC)
    for occurrence in occurrences:
        local_start = occurrence.start.astimezone(tz)
        assert local_start.weekday() in rec.weekdays
        assert local_start.time() == start.time()
        assert local_start.date() >= rec.start_date
        assert rec.end_date is None or local_start.date() <= rec.end_date
        wanted_end = local_start.replace(tzinfo=None) + (end - start)
        # A wall-clock end that falls in a spring-forward gap does not exist; like a start
        # there, it moves forward by the gap.
        real_end = wanted_end.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
        assert occurrence.end.astimezone(tz).replace(tzinfo=None) == real_end.replace(tzinfo=None)
        assert occurrence.start.tzinfo is UTC and occurrence.end.tzinfo is UTC


@settings(max_examples=150, deadline=None)
@given(weekly_series())
def test_occurrences_respect_the_interval_and_the_count(
    series: tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence],
) -> None:
    _, _, tz, rec = series
    occurrences = full_expansion(series)
    assert [o.index for o in occurrences] == list(range(1, len(occurrences) + 1))
    if rec.number_of_occurrences is not None:
        assert len(occurrences) == rec.number_of_occurrences
    for occurrence in occurrences:
        weeks = (occurrence.start.astimezone(tz).date() - week_one(rec)).days // 7
        assert weeks % rec.interval == 0


@settings(max_examples=200, deadline=None)
@given(weekly_series(), windows(), st.data())
def test_a_windowed_expansion_equals_the_full_expansion_filtered_to_the_window(
    series: tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence],
    window: tuple[dt.datetime, dt.datetime],
    data: st.DataObject,
) -> None:
    start, end, tz, rec = series
    window_start, window_end = window
    full = full_expansion(series)
    deleted = frozenset(
        data.draw(
            st.sets(st.sampled_from([o.start.astimezone(tz).date() for o in full]), max_size=3)
        )
    )
    windowed = list(expand(start, end, tz, rec, window_start, window_end, deleted))
    expected = [
        o
        for o in full
        if o.start.astimezone(tz).date() not in deleted and in_window(o, window_start, window_end)
    ]
    assert windowed == expected


@settings(max_examples=100, deadline=None)
@given(weekly_series())
def test_serialising_and_parsing_a_series_gives_it_back(
    series: tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence],
) -> None:
    _, _, tz, rec = series
    assert parse_recurrence(recurrence_to_xml(rec, tz)) == rec


@st.composite
def any_series(
    draw: st.DrawFn,
) -> tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence]:
    tz = draw(st.sampled_from(ZONES))
    kind = draw(st.sampled_from(sorted(recmod._TAG_FOR_KIND)))
    yearly = kind.endswith("_yearly")
    fields: dict[str, object] = {
        "pattern": kind,
        "interval": 1 if yearly else draw(st.integers(1, 5)),
        "start_date": draw(st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31))),
    }
    if kind == "weekly":
        fields["weekdays"] = draw(st.frozensets(st.integers(0, 6), min_size=1))
        fields["first_day_of_week"] = draw(st.integers(0, 6))
    if kind.startswith("absolute_"):
        fields["day_of_month"] = draw(st.integers(1, 31))
    if kind.startswith("relative_"):
        fields["weekdays"] = draw(
            st.sampled_from([frozenset({d}) for d in range(7)] + list(recmod.DAY_CLASSES.values()))
        )
        fields["day_of_week_index"] = draw(st.integers(1, 5))
    if yearly:
        fields["month"] = draw(st.integers(1, 12))
    if draw(st.booleans()):
        fields["number_of_occurrences"] = draw(st.integers(1, 40))
    rec = Recurrence(**fields)  # type: ignore[arg-type]
    first_index, first_date = next(recmod.pattern_dates(rec))
    assert first_index == 1
    start = dt.datetime.combine(first_date, dt.time(draw(st.integers(4, 22))), tzinfo=tz)
    return start, start + dt.timedelta(hours=draw(st.integers(0, 72))), tz, rec


@settings(max_examples=200, deadline=None)
@given(any_series(), windows())
def test_windowed_expansion_matches_the_full_one_for_every_pattern_kind(
    series: tuple[dt.datetime, dt.datetime, zoneinfo.ZoneInfo, Recurrence],
    window: tuple[dt.datetime, dt.datetime],
) -> None:
    start, end, tz, rec = series
    window_start, window_end = window
    full = full_expansion(series)
    assert [o.index for o in full] == list(range(1, len(full) + 1))
    assert all(a.start < b.start for a, b in itertools.pairwise(full))
    windowed = list(expand(start, end, tz, rec, window_start, window_end))
    assert windowed == [o for o in full if in_window(o, window_start, window_end)]
