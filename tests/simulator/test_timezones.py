"""The simulator's time zones, checked against zoneinfo, the EWS schema and exchangelib itself."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest
from exchangelib.ewsdatetime import EWSTimeZone
from exchangelib.properties import DaylightTime, StandardTime, TimeZone, TimeZoneDefinition
from lxml import etree

from calendars.simulator import timezones as tzmod
from calendars.simulator.timezones import (
    M_NS,
    T_NS,
    UnknownTimeZoneError,
    format_local,
    ms_id_from_tz,
    parse_ews_datetime,
    server_timezone_definitions,
    tz_from_ms_id,
    tz_from_request_timezone,
    tz_from_timezone_context,
)

SCHEMA_DIR = Path("/work/shared/ews-schema")
UTC = dt.UTC
ROUND_TRIP_ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]


@functools.cache
def messages_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "messages.xsd")))


needs_schema = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason="EWS schema folder is absent")


def m(tag: str) -> str:
    return f"{{{M_NS}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T_NS}}}{tag}"


def get_server_time_zones_response(definitions: list[etree._Element]) -> etree._Element:
    response = etree.Element(m("GetServerTimeZonesResponse"), nsmap={"m": M_NS, "t": T_NS})
    messages = etree.SubElement(response, m("ResponseMessages"))
    message = etree.SubElement(
        messages, m("GetServerTimeZonesResponseMessage"), ResponseClass="Success"
    )
    etree.SubElement(message, m("ResponseCode")).text = "NoError"
    holder = etree.SubElement(message, m("TimeZoneDefinitions"))
    holder.extend(definitions)
    return response


def exchangelib_timezone_for(iana: str, year: int) -> etree._Element:
    """What exchangelib puts in GetUserAvailabilityRequest after our GetServerTimeZones answer."""
    ms_id = ms_id_from_tz(zoneinfo.ZoneInfo(iana))
    [definition_elem] = server_timezone_definitions([ms_id], full=True)
    definition = TimeZoneDefinition.from_xml(elem=definition_elem, account=None)
    timezone = TimeZone.from_server_timezone(tz_definition=definition, for_year=year)
    return timezone.to_xml(version=None)


def zone_changes(tz: dt.tzinfo, year: int) -> list[dt.datetime]:
    """UTC instants in ``year`` where zoneinfo's offset changes (hour resolution is enough
    because every zone under test changes on the hour)."""
    changes = []
    here = dt.datetime(year, 1, 1, tzinfo=UTC)
    while here.year == year:
        nxt = here + dt.timedelta(hours=1)
        if here.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            changes.append(nxt)
        here = nxt
    return changes


def instants_of(year: int, step: dt.timedelta) -> Iterator[dt.datetime]:
    here = dt.datetime(year, 1, 1, tzinfo=UTC)
    while here.year == year:
        yield here
        here += step


def assert_same_offsets(
    ours: dt.tzinfo, reference: dt.tzinfo, instants: Iterator[dt.datetime]
) -> None:
    mismatches = [
        instant
        for instant in instants
        if instant.astimezone(ours).utcoffset() != instant.astimezone(reference).utcoffset()
    ]
    assert mismatches == []


# ----------------------------------------------------------------------------- Windows ids


def test_windows_ids_map_to_their_iana_zones() -> None:
    assert tz_from_ms_id("W. Europe Standard Time") == zoneinfo.ZoneInfo("Europe/Berlin")
    assert tz_from_ms_id("GMT Standard Time") == zoneinfo.ZoneInfo("Europe/London")
    assert tz_from_ms_id("UTC") == zoneinfo.ZoneInfo("UTC")


def test_iana_zones_map_to_the_windows_ids_exchangelib_sends() -> None:
    for iana in [*ROUND_TRIP_ZONES, "Europe/Copenhagen", "Etc/UTC"]:
        assert ms_id_from_tz(zoneinfo.ZoneInfo(iana)) == EWSTimeZone(iana).ms_id


def test_ms_id_from_tz_accepts_strings_exchangelib_zones_and_fixed_utc() -> None:
    assert ms_id_from_tz("Europe/London") == "GMT Standard Time"
    assert ms_id_from_tz("India Standard Time") == "India Standard Time"
    assert ms_id_from_tz(EWSTimeZone("Australia/Sydney")) == "AUS Eastern Standard Time"
    assert ms_id_from_tz(dt.UTC) == "UTC"


def test_unknown_zone_names_raise_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="Unknown Windows time zone id 'Mars Standard Time'"):
        tz_from_ms_id("Mars Standard Time")
    with pytest.raises(UnknownTimeZoneError, match="Mars/Olympus"):
        ms_id_from_tz("Mars/Olympus")
    with pytest.raises(UnknownTimeZoneError):
        server_timezone_definitions(["Mars Standard Time"], full=False)


# --------------------------------------------------------------------- GetServerTimeZones


@needs_schema
def test_every_definition_validates_against_the_ews_schema() -> None:
    for full in (False, True):
        response = get_server_time_zones_response(server_timezone_definitions(None, full=full))
        schema = messages_schema()
        assert schema.validate(response), schema.error_log


def test_all_zones_are_listed_when_no_ids_are_asked_for() -> None:
    ids = [elem.get("Id") for elem in server_timezone_definitions(None, full=False)]
    assert len(ids) > 100
    assert {"UTC", "W. Europe Standard Time", "India Standard Time"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_a_short_definition_has_only_an_id_and_a_name() -> None:
    [elem] = server_timezone_definitions(["W. Europe Standard Time"], full=False)
    assert elem.tag == t("TimeZoneDefinition")
    assert elem.get("Id") == "W. Europe Standard Time"
    assert elem.get("Name") == "(UTC+01:00) Berlin"
    assert len(elem) == 0


def test_each_call_returns_fresh_elements_that_callers_may_move() -> None:
    first = server_timezone_definitions(["UTC"], full=True)[0]
    parent = etree.Element("parent")
    parent.append(first)
    second = server_timezone_definitions(["UTC"], full=True)[0]
    assert second.getparent() is None


def test_a_european_zone_is_described_as_exchange_does() -> None:
    [elem] = server_timezone_definitions(["W. Europe Standard Time"], full=True)
    periods = {p.get("Name"): p for p in elem.find(t("Periods"))}
    assert periods["Standard"].get("Bias") == "-PT1H"
    assert periods["Daylight"].get("Bias") == "-PT2H"
    assert periods["Standard"].get("Id") == (
        "trule:Microsoft/Registry/W. Europe Standard Time/2000-Standard"
    )
    [group] = elem.find(t("TransitionsGroups"))
    to_daylight, to_standard = group.findall(t("RecurringDayTransition"))
    assert [to_daylight.findtext(t(tag)) for tag in ("TimeOffset", "Month", "DayOfWeek")] == [
        "PT2H",
        "3",
        "Sunday",
    ]
    assert to_daylight.findtext(t("Occurrence")) == "-1"
    assert to_daylight.find(t("To")).get("Kind") == "Period"
    assert to_standard.findtext(t("TimeOffset")) == "PT3H"
    assert to_standard.findtext(t("Month")) == "10"
    [transition] = elem.find(t("Transitions"))
    assert transition.tag == t("Transition")
    assert transition.find(t("To")).get("Kind") == "Group"
    assert transition.findtext(t("To")) == group.get("Id")


@pytest.mark.parametrize("ms_id", ["India Standard Time", "UTC"])
def test_a_zone_without_daylight_saving_has_a_single_period(ms_id: str) -> None:
    [elem] = server_timezone_definitions([ms_id], full=True)
    [period] = elem.find(t("Periods"))
    assert period.get("Name") == "Standard"
    assert period.get("Bias") == {"India Standard Time": "-PT5H30M", "UTC": "PT0M"}[ms_id]
    [group] = elem.find(t("TransitionsGroups"))
    [only] = group
    assert only.tag == t("Transition")
    assert only.findtext(t("To")) == period.get("Id")


def test_a_zone_whose_rules_changed_gets_an_absolute_transition_to_the_new_group() -> None:
    [elem] = server_timezone_definitions(["Eastern Standard Time"], full=True)
    absolute = elem.find(t("Transitions")).findall(t("AbsoluteDateTransition"))
    assert [a.findtext(t("DateTime")) for a in absolute] == ["2007-01-01T00:00:00"]
    definition = TimeZoneDefinition.from_xml(elem=elem, account=None)
    old = TimeZone.from_server_timezone(tz_definition=definition, for_year=2006)
    new = TimeZone.from_server_timezone(tz_definition=definition, for_year=2027)
    assert (old.daylight_time.iso_month, old.daylight_time.occurrence) == (4, 1)
    assert (new.daylight_time.iso_month, new.daylight_time.occurrence) == (3, 2)
    assert (new.standard_time.iso_month, new.standard_time.occurrence) == (11, 1)


def test_exchangelib_derives_the_windows_rule_for_central_europe() -> None:
    [elem] = server_timezone_definitions(["W. Europe Standard Time"], full=True)
    definition = TimeZoneDefinition.from_xml(elem=elem, account=None)
    timezone = TimeZone.from_server_timezone(tz_definition=definition, for_year=2027)
    assert timezone == TimeZone(
        bias=-60,
        standard_time=StandardTime(bias=0, time=dt.time(3), occurrence=5, iso_month=10, weekday=7),
        daylight_time=DaylightTime(bias=-60, time=dt.time(2), occurrence=5, iso_month=3, weekday=7),
    )


def test_group_ids_sort_chronologically_even_as_strings() -> None:
    # exchangelib sorts transitions by group id text: "10" must not come before "2".
    [elem] = server_timezone_definitions(["Iran Standard Time"], full=True)
    group_ids = [g.get("Id") for g in elem.find(t("TransitionsGroups"))]
    assert len(group_ids) >= 10
    assert sorted(group_ids) == group_ids


# ------------------------------------------------------------ GetUserAvailability round trip


@pytest.mark.parametrize("iana", ROUND_TRIP_ZONES)
def test_exchangelibs_timezone_round_trips_to_zoneinfos_offsets_through_2027(iana: str) -> None:
    ours = tz_from_request_timezone(exchangelib_timezone_for(iana, 2027))
    assert_same_offsets(ours, zoneinfo.ZoneInfo(iana), instants_of(2027, dt.timedelta(minutes=30)))


@pytest.mark.parametrize("iana", ["Europe/London", "America/New_York", "Australia/Sydney"])
def test_the_round_trip_is_exact_to_the_second_at_both_changes(iana: str) -> None:
    reference = zoneinfo.ZoneInfo(iana)
    ours = tz_from_request_timezone(exchangelib_timezone_for(iana, 2027))
    changes = zone_changes(reference, 2027)
    assert len(changes) == 2
    one_second = dt.timedelta(seconds=1)
    instants = (c + d for c in changes for d in (-one_second, dt.timedelta(0), one_second))
    assert_same_offsets(ours, reference, instants)


def test_every_served_zone_round_trips_through_exchangelib_for_2027() -> None:
    mismatched = []
    for definition_elem in server_timezone_definitions(None, full=True):
        definition = TimeZoneDefinition.from_xml(elem=definition_elem, account=None)
        timezone = TimeZone.from_server_timezone(tz_definition=definition, for_year=2027)
        ours = tz_from_request_timezone(timezone.to_xml(version=None))
        reference = tz_from_ms_id(definition.id)
        for instant in instants_of(2027, dt.timedelta(hours=12)):
            if instant.astimezone(ours).utcoffset() != instant.astimezone(reference).utcoffset():
                mismatched.append(definition.id)
                break
    assert mismatched == []


# ------------------------------------------------------------------ SerializableTimeZone


def serializable_timezone(
    bias: int,
    standard: tuple[int, str, int, int, str],
    daylight: tuple[int, str, int, int, str],
) -> etree._Element:
    """A t:TimeZone element; each rule is (bias, time, day order, month, weekday)."""
    elem = etree.Element(t("TimeZone"), nsmap={"t": T_NS})
    etree.SubElement(elem, t("Bias")).text = str(bias)
    for tag, (rule_bias, time, order, month, weekday) in (
        ("StandardTime", standard),
        ("DaylightTime", daylight),
    ):
        rule = etree.SubElement(elem, t(tag))
        for child, text in zip(
            ("Bias", "Time", "DayOrder", "Month", "DayOfWeek"),
            (rule_bias, time, order, month, weekday),
            strict=True,
        ):
            etree.SubElement(rule, t(child)).text = str(text)
    return elem


def test_a_southern_hemisphere_zone_keeps_daylight_time_across_the_new_year() -> None:
    # Sydney: standard +10, daylight +11 from the first Sunday of October 02:00 to the first
    # Sunday of April 03:00.
    sydney = tz_from_request_timezone(
        serializable_timezone(
            -600, (0, "03:00:00", 1, 4, "Sunday"), (-60, "02:00:00", 1, 10, "Sunday")
        )
    )
    assert_same_offsets(
        sydney,
        zoneinfo.ZoneInfo("Australia/Sydney"),
        instants_of(2027, dt.timedelta(minutes=15)),
    )


def test_day_order_five_means_the_last_weekday_of_the_month() -> None:
    berlin = tz_from_request_timezone(
        serializable_timezone(
            -60, (0, "03:00:00", 5, 10, "Sunday"), (-60, "02:00:00", 5, 3, "Sunday")
        )
    )
    # 2027: last Sunday of March is the 28th, last of October the 31st.
    assert dt.datetime(2027, 3, 28, 0, 59, tzinfo=UTC).astimezone(berlin).hour == 1
    assert dt.datetime(2027, 3, 28, 1, 0, tzinfo=UTC).astimezone(berlin).hour == 3
    assert dt.datetime(2027, 10, 31, 0, 59, tzinfo=UTC).astimezone(berlin).hour == 2
    assert dt.datetime(2027, 10, 31, 1, 0, tzinfo=UTC).astimezone(berlin).hour == 2
    assert dt.datetime(2027, 10, 31, 1, 0, tzinfo=UTC).astimezone(berlin).utcoffset() == (
        dt.timedelta(hours=1)
    )


def test_local_times_in_the_gap_and_the_overlap_follow_pep_495() -> None:
    london = tz_from_request_timezone(exchangelib_timezone_for("Europe/London", 2027))
    in_gap = dt.datetime(2027, 3, 28, 1, 30, tzinfo=london)
    assert in_gap.utcoffset() == dt.timedelta(0)
    assert in_gap.replace(fold=1).utcoffset() == dt.timedelta(hours=1)
    twice = dt.datetime(2027, 10, 31, 1, 30, tzinfo=london)
    assert twice.utcoffset() == dt.timedelta(hours=1)
    assert twice.replace(fold=1).utcoffset() == dt.timedelta(0)
    second_pass = dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC).astimezone(london)
    assert (second_pass.hour, second_pass.fold) == (1, 1)
    assert second_pass.astimezone(UTC) == dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC)


def test_the_dummy_rules_exchangelib_sends_for_zones_without_dst_give_a_fixed_offset() -> None:
    kolkata = tz_from_request_timezone(exchangelib_timezone_for("Asia/Kolkata", 2027))
    for month in range(1, 13):
        instant = dt.datetime(2027, month, 15, tzinfo=UTC)
        assert instant.astimezone(kolkata).utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_a_month_of_zero_means_no_transition() -> None:
    elem = serializable_timezone(
        300, (0, "00:00:00", 0, 0, "Sunday"), (-60, "00:00:00", 0, 0, "Sunday")
    )
    fixed = tz_from_request_timezone(elem)
    assert dt.datetime(2027, 7, 1, tzinfo=UTC).astimezone(fixed).utcoffset() == -dt.timedelta(
        hours=5
    )


def test_a_timezone_without_its_bias_is_refused() -> None:
    elem = serializable_timezone(
        0, (0, "00:00:00", 1, 1, "Monday"), (0, "00:00:00", 5, 12, "Sunday")
    )
    elem.remove(elem.find(t("Bias")))
    with pytest.raises(ValueError, match="Bias"):
        tz_from_request_timezone(elem)


def test_format_local_writes_the_wall_clock_without_an_offset() -> None:
    new_york = tz_from_request_timezone(exchangelib_timezone_for("America/New_York", 2027))
    instant = dt.datetime(2027, 7, 1, 13, 0, 5, 123456, tzinfo=UTC)
    assert format_local(instant, new_york) == "2027-07-01T09:00:05"
    assert format_local(instant, zoneinfo.ZoneInfo("Asia/Kolkata")) == "2027-07-01T18:30:05"
    with pytest.raises(ValueError, match="aware"):
        format_local(dt.datetime(2027, 7, 1), new_york)


# ------------------------------------------------------------- request datetimes and context


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-03-28T09:00:00Z", dt.datetime(2027, 3, 28, 9, tzinfo=UTC)),
        ("2027-03-28T09:00:00.500Z", dt.datetime(2027, 3, 28, 9, 0, 0, 500000, tzinfo=UTC)),
        ("2027-03-28T10:00:00+01:00", dt.datetime(2027, 3, 28, 9, tzinfo=UTC)),
        ("2027-03-28T04:00:00-05:00", dt.datetime(2027, 3, 28, 9, tzinfo=UTC)),
        ("2027-03-28T09:00:00.1234567Z", dt.datetime(2027, 3, 28, 9, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_absolute_request_datetimes_become_aware_utc(text: str, expected: dt.datetime) -> None:
    parsed = parse_ews_datetime(text, default_tz=zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_naive_request_datetimes_are_local_to_the_timezone_context() -> None:
    london = zoneinfo.ZoneInfo("Europe/London")
    assert parse_ews_datetime("2027-07-01T09:00:00", london) == dt.datetime(
        2027, 7, 1, 8, tzinfo=UTC
    )
    assert parse_ews_datetime("2027-07-01T09:00:00", None) == dt.datetime(2027, 7, 1, 9, tzinfo=UTC)


def test_garbage_request_datetimes_are_refused() -> None:
    for text in ("2027-07-01", "yesterday", "2027-07-01 09:00:00"):
        with pytest.raises(ValueError, match="xs:dateTime"):
            parse_ews_datetime(text, None)


def soap_header_with_context(ms_id: str) -> etree._Element:
    soap = "http://schemas.xmlsoap.org/soap/envelope/"
    header = etree.Element(f"{{{soap}}}Header", nsmap={"s": soap, "t": T_NS})
    etree.SubElement(header, t("RequestServerVersion"), Version="Exchange2016")
    context = etree.SubElement(header, t("TimeZoneContext"))
    etree.SubElement(context, t("TimeZoneDefinition"), Id=ms_id)
    return header


def test_the_timezone_context_header_names_the_request_zone() -> None:
    header = soap_header_with_context("W. Europe Standard Time")
    assert tz_from_timezone_context(header) == zoneinfo.ZoneInfo("Europe/Berlin")
    context = header.find(t("TimeZoneContext"))
    assert tz_from_timezone_context(context) == zoneinfo.ZoneInfo("Europe/Berlin")


def test_without_a_timezone_context_requests_are_in_utc() -> None:
    assert tz_from_timezone_context(None).utcoffset(None) == dt.timedelta(0)
    header = soap_header_with_context("UTC")
    header.remove(header.find(t("TimeZoneContext")))
    assert tz_from_timezone_context(header).utcoffset(None) == dt.timedelta(0)


def test_an_unknown_zone_in_the_timezone_context_is_refused() -> None:
    with pytest.raises(UnknownTimeZoneError):
        tz_from_timezone_context(soap_header_with_context("Nowhere Standard Time"))


def test_rules_are_derived_once_per_zone() -> None:
    tzmod.rule_groups("GMT Standard Time")
    hits = tzmod.rule_groups.cache_info().hits
    server_timezone_definitions(["GMT Standard Time"], full=True)
    assert tzmod.rule_groups.cache_info().hits > hits
