"""POST /api/v1/pages/<slug>/bookings: the re-check against Exchange, errors, rate limits,
and what reaches the owner's calendar and the customer's inbox."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core import mail
from django.test import Client

from bookings.models import Booking, Question, WriteState
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


def post(slug: str, **data):  # type: ignore[no-untyped-def]
    body = {"name": "Ann Customer", "email": "ann@example.com", "timezone": "America/New_York"}
    body.update(data)
    return Client().post(f"/api/v1/pages/{slug}/bookings", body, content_type="application/json")


@pytest.fixture
def page(world):  # type: ignore[no-untyped-def]
    return world.page(world.staff("olivia"), tz="Europe/London", title="Consultation")


def test_it_books_a_free_slot_and_the_event_lands_in_the_main_calendar(
    world, page, eager_writes, django_capture_on_commit_callbacks
) -> None:
    start = monday_after().replace(hour=10)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(page.slug, start=start.isoformat())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "confirmed"
    # Answered in the customer's zone: 10:00 UTC is 05:00 or 06:00 in New York.
    assert datetime.fromisoformat(body["start"]) == start
    assert body["start"].endswith(("-05:00", "-04:00"))
    booking = Booking.objects.get(pk=body["id"])
    assert body["manage_url"] == booking.manage_url()
    write = booking.writes.get()
    assert write.state == WriteState.DONE and write.item_id

    events = world.sim.events(page.owner.email)
    assert [(e.start, e.subject, e.status) for e in events] == [
        (start, "Consultation: Ann Customer", "Busy")
    ]
    # The app keeps the event's id: EWS's ItemId, or over Graph its immutable id.
    assert world.item_ref(events[0]) == write.item_id
    assert events[0].tz == "Europe/London"

    customer, owner = sorted(mail.outbox, key=lambda m: m.to != ["ann@example.com"])
    assert customer.to == ["ann@example.com"]
    assert booking.uid in customer.message().as_string()
    assert owner.to == [page.owner.email]


def test_a_slot_taken_by_another_customer_is_409(page) -> None:
    start = monday_after().replace(hour=10).isoformat()
    assert post(page.slug, start=start).status_code == 201
    response = post(page.slug, start=start, email="bob@example.com")
    assert response.status_code == 409
    assert "not available" in response.json()["detail"]
    assert Booking.objects.count() == 1


def test_the_re_check_reads_exchange_afresh_not_the_cached_slots(world, page) -> None:
    day = monday_after()
    client = Client()
    slots = client.get(
        f"/api/v1/pages/{page.slug}/slots", {"start": day.date(), "end": day.date()}
    ).json()["slots"]
    assert any(datetime.fromisoformat(s["start"]) == day.replace(hour=10) for s in slots)
    # The owner accepts a meeting after the customer loaded the page.
    world.sim.add_event(page.owner.email, day.replace(hour=10), day.replace(hour=11), "New")
    response = post(page.slug, start=day.replace(hour=10).isoformat())
    assert response.status_code == 409
    assert not Booking.objects.exists()


def test_exchange_down_at_confirmation_stores_nothing(world, page) -> None:
    world.sim.go_down()
    response = post(page.slug, start=monday_after().replace(hour=10).isoformat())
    assert response.status_code == 503
    assert "try again" in response.json()["detail"]
    assert not Booking.objects.exists()


def test_a_slot_outside_the_hours_is_409(page) -> None:
    response = post(page.slug, start=monday_after().replace(hour=20).isoformat())
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"start": "2027-01-04T10:00:00"}, "start"),
        ({"start": "next tuesday"}, "start"),
        ({"start": 12}, "start"),
        ({"answers": ["not", "a", "dict"]}, "answers"),
    ],
)
def test_bad_input_gets_400_with_field_errors(page, data, field) -> None:
    data.setdefault("start", monday_after().replace(hour=10).isoformat())
    response = post(page.slug, **data)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Booking.objects.exists()


def test_required_and_choice_questions_are_checked(page) -> None:
    q = Question.objects.create(page=page, label="Topic", kind="choice", choices=["A", "B"])
    q2 = Question.objects.create(page=page, label="Company", required=True)
    start = monday_after().replace(hour=10).isoformat()
    response = post(page.slug, start=start, answers={q.key: "C"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {f"answers.{q.key}", f"answers.{q2.key}"}
    response = post(page.slug, start=start, answers={q.key: "B", q2.key: "<b>Contoso</b>"})
    assert response.status_code == 201
    assert Booking.objects.get().answers == {q.key: "B", q2.key: "<b>Contoso</b>"}


def test_a_json_body_that_is_not_an_object_is_400(page) -> None:
    response = Client().post(
        f"/api/v1/pages/{page.slug}/bookings", "[1, 2]", content_type="application/json"
    )
    assert response.status_code == 400
    response = Client().post(
        f"/api/v1/pages/{page.slug}/bookings", "{not json", content_type="application/json"
    )
    assert response.status_code == 400


def test_clients_are_rate_limited(page, settings, mid_window) -> None:
    settings.BOOKING_RATE_LIMIT = 3
    codes = [post(page.slug, start="bad").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    assert "Too many" in post(page.slug, start="bad").json()["detail"]


def test_a_page_without_a_main_calendar_does_not_take_bookings(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, roles={owner.email: "busy"})
    response = post(page.slug, start=monday_after().replace(hour=10).isoformat())
    assert response.status_code == 409
    assert response.json()["code"] == "not_taking_bookings"


def test_bookings_on_the_owners_other_pages_block_the_time(world, page) -> None:
    other = world.page(page.owner, title="Other page")
    start = monday_after().replace(hour=10).isoformat()
    assert post(other.slug, start=start).status_code == 201
    assert post(page.slug, start=start).status_code == 409
