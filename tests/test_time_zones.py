"""The time zones customers pick from (bookings.zones), and aliases in the slots and booking
APIs: found by city, country or abbreviation, canonical names only, DST-correct times."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.test import Client

from bookings import zones
from bookings.models import Booking
from tests.world import monday_after

JANUARY = datetime(2027, 1, 15, 14, 14, tzinfo=UTC)
JULY = datetime(2027, 7, 15, 13, 14, tzinfo=UTC)


def names(query: str, now: datetime = JANUARY) -> list[str]:
    return [zone.name for zone in zones.search(query, now)]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("London", "Europe/London"),
        ("london", "Europe/London"),
        ("New York", "America/New_York"),
        ("new_york", "America/New_York"),
        ("New_York", "America/New_York"),
        ("new yo", "America/New_York"),
        ("Kolkata", "Asia/Kolkata"),
        ("Calcutta", "Asia/Kolkata"),  # its former name still finds it
        ("Kiev", "Europe/Kyiv"),
        ("Sao Paulo", "America/Sao_Paulo"),
    ],
)
def test_a_city_finds_its_zone_first(query: str, first: str) -> None:
    assert names(query)[0] == first


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("India", {"Asia/Kolkata"}),
        ("Germany", {"Europe/Berlin"}),
        ("UK", {"Europe/London"}),
        ("United Kingdom", {"Europe/London"}),
        ("Britain", {"Europe/London"}),
        ("Japan", {"Asia/Tokyo"}),
        ("United States", {"America/New_York", "America/Chicago", "America/Los_Angeles"}),
    ],
)
def test_a_country_finds_its_zones(country: str, expected: set[str]) -> None:
    found = names(country)
    assert expected <= set(found)
    assert found[0] in expected or len(expected) > 1


def test_india_ranks_kolkata_before_indianapolis_and_the_indian_ocean() -> None:
    found = names("India")
    assert found[0] == "Asia/Kolkata"
    assert "America/Indiana/Indianapolis" in found[1:]


@pytest.mark.parametrize(
    ("abbreviation", "expected"),
    [
        ("PST", "America/Los_Angeles"),
        ("PDT", "America/Los_Angeles"),
        ("EST", "America/New_York"),
        ("CET", "Europe/Berlin"),
        ("CEST", "Europe/Paris"),
        ("IST", "Asia/Kolkata"),
        ("BST", "Europe/London"),
        ("GMT", "Europe/London"),
        ("AEST", "Australia/Sydney"),
    ],
)
def test_an_abbreviation_finds_its_zones_in_winter_and_in_summer(
    abbreviation: str, expected: str
) -> None:
    # "PST" still finds Los Angeles in July, when it is on PDT.
    assert expected in names(abbreviation, JANUARY)
    assert expected in names(abbreviation, JULY)


def test_an_empty_search_lists_every_offered_zone() -> None:
    assert len(zones.search("  ")) == len(zones.offered())


def test_a_search_matching_nothing_finds_nothing() -> None:
    assert zones.search("Atlantis") == []


def test_only_canonical_zones_are_offered_never_aliases_or_non_places() -> None:
    offered = zones.offered()
    assert {"Asia/Kolkata", "America/New_York", "Europe/London", "UTC"} <= set(offered)
    for name in (
        "Factory",
        "GB-Eire",
        "GB",
        "EST",
        "EST5EDT",
        "US/Eastern",
        "Asia/Calcutta",
        "Etc/GMT+5",
        "Etc/UTC",
        "Zulu",
    ):
        assert name not in offered, name
    assert 300 < len(offered) < 450


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("US/Eastern", "America/New_York"),
        ("GB", "Europe/London"),
        ("GB-Eire", "Europe/London"),
        ("Europe/Kiev", "Europe/Kyiv"),
        ("Etc/UTC", "UTC"),
        ("Zulu", "UTC"),
        ("GMT", "UTC"),
        ("asia/calcutta", "Asia/Kolkata"),
        ("America/New York", "America/New_York"),
        ("Europe/London", "Europe/London"),
    ],
)
def test_aliases_map_to_their_canonical_zone(alias: str, canonical: str) -> None:
    assert zones.canonical(alias) == canonical


@pytest.mark.parametrize("name", ["Factory", "Etc/GMT+5", "Mars/Olympus", "", "London"])
def test_a_name_that_is_no_offered_zone_has_no_canonical_form(name: str) -> None:
    assert zones.canonical(name) is None


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("London", "Europe/London"),
        ("new_york", "America/New_York"),
        ("New York", "America/New_York"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Calcutta", "Asia/Kolkata"),
        ("Portland", None),
        ("Mars", None),
    ],
)
def test_resolve_understands_cities_as_people_type_them(text: str, zone: str | None) -> None:
    assert zones.resolve(text) == zone


def test_labels_say_the_time_there_now_and_follow_daylight_saving() -> None:
    new_york = zones.offered()["America/New_York"]
    assert new_york.label(JANUARY) == "New York \u2014 9:14 am"  # 14:14 UTC, EST
    assert new_york.label(JULY) == "New York \u2014 9:14 am"  # 13:14 UTC, EDT
    assert new_york.offset_text(JANUARY) == "UTC\u22125"
    assert new_york.offset_text(JULY) == "UTC\u22124"
    assert new_york.detail(JANUARY) == "United States \u00b7 EST \u00b7 UTC\u22125"
    assert new_york.detail(JULY) == "United States \u00b7 EDT \u00b7 UTC\u22124"
    kolkata = zones.offered()["Asia/Kolkata"]
    assert kolkata.offset_text(JULY) == "UTC+5:30"
    assert kolkata.label(JULY) == "Kolkata \u2014 6:44 pm"
    london = zones.offered()["Europe/London"]
    assert london.detail(JANUARY) == "Britain (UK) \u00b7 GMT \u00b7 UTC"
    assert london.detail(JULY) == "Britain (UK) \u00b7 BST \u00b7 UTC+1"


def test_zones_with_a_state_or_province_say_which() -> None:
    offered = zones.offered()
    assert offered["America/Indiana/Knox"].city == "Knox (Indiana)"
    assert offered["America/Argentina/Buenos_Aires"].city == "Buenos Aires (Argentina)"


def test_the_picker_lists_regions_in_order_with_utc_first() -> None:
    groups = zones.grouped_choices(JANUARY)
    assert [region for region, _ in groups][:3] == ["Universal", "Americas", "Europe"]
    europe = dict(groups)["Europe"]
    assert [c.city for c in europe] == sorted(c.city for c in europe)


# --- the APIs ------------------------------------------------------------------------------


@pytest.fixture
def page(world):  # type: ignore[no-untyped-def]
    return world.page(world.staff("olivia"), tz="Europe/London", title="Consultation")


@pytest.mark.django_db
def test_the_slots_api_answers_an_alias_in_its_canonical_zone(page) -> None:  # type: ignore[no-untyped-def]
    day = monday_after().date().isoformat()
    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots",
        {"start": day, "end": day, "timezone": "Asia/Calcutta"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["timezone"] == "Asia/Kolkata"
    assert body["slots"] and body["slots"][0]["start"].endswith("+05:30")


@pytest.mark.django_db
def test_the_slots_api_refuses_a_name_that_is_no_zone(page) -> None:  # type: ignore[no-untyped-def]
    day = monday_after().date().isoformat()
    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots", {"start": day, "end": day, "timezone": "Mars/Base"}
    )
    assert response.status_code == 400
    assert "timezone" in response.json()["errors"]


@pytest.mark.django_db
def test_the_booking_api_stores_an_alias_as_its_canonical_zone(page) -> None:  # type: ignore[no-untyped-def]
    start = datetime.combine(monday_after().date(), time(10), tzinfo=UTC)
    body = {
        "name": "Ann Customer",
        "email": "ann@example.com",
        "timezone": "US/Eastern",
        "start": start.isoformat(),
    }
    response = Client().post(
        f"/api/v1/pages/{page.slug}/bookings", body, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["timezone"] == "America/New_York"
    assert Booking.objects.get().timezone == "America/New_York"
