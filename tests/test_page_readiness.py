"""A page without a main booking calendar it can write to is not offered to customers: its
public page says so (no slots, no form), the slots and booking APIs answer 409 with a code,
staff see it as "not taking bookings", and the calendars page proposes the owner's own
calendar as the main booking calendar with one click."""

from __future__ import annotations

import re
from datetime import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bookings.models import Booking, BookingPage, PageCalendarOwner
from bookings.tasks import recheck_page_calendars
from calendars.models import CalendarRef, CalendarRole
from tests.world import World, monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

NOT_TAKING = "This page isn't taking bookings yet"


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


def editor_page(owner: User) -> BookingPage:
    """A page as the editor creates it: active, weekly hours, the owner's own mailbox
    listed, no calendar roles yet."""
    page = BookingPage.objects.create(
        owner=owner, slug=f"new-{owner.pk}", title="Consultation", min_notice_minutes=0
    )
    page.replace_schedule(
        weekly_hours=[{"weekday": d, "start": time(9), "end": time(17)} for d in range(5)]
    )
    PageCalendarOwner.objects.create(page=page, email=owner.email)
    return page


def card(listing: str, page: BookingPage) -> str:
    """The page list's card of `page`."""
    return next(a for a in listing.split("</article>") if f"/{page.slug}/" in a)


def slots(page: BookingPage):  # type: ignore[no-untyped-def]
    day = monday_after().date().isoformat()
    return Client().get(f"/api/v1/pages/{page.slug}/slots", {"start": day, "end": day})


def book(page: BookingPage, **body: str):  # type: ignore[no-untyped-def]
    data = {
        "start": monday_after().replace(hour=10).isoformat(),
        "name": "Ann Customer",
        "email": "ann@example.com",
    } | body
    return Client().post(
        f"/api/v1/pages/{page.slug}/bookings", data, content_type="application/json"
    )


# --- the public page ---------------------------------------------------------------------


def test_a_page_without_a_main_calendar_says_it_is_not_taking_bookings_and_shows_no_slots(
    world: World,
) -> None:
    owner = world.staff("olivia")
    # Busy time would be read from this calendar: the page still offers nothing.
    page = world.page(owner, roles={owner.email: "busy"})
    assert page.not_ready_reason()
    world.sim.clear_log()
    day = monday_after().date().isoformat()
    response = Client().get(f"/{page.slug}/", {"date": day})
    assert response.status_code == 200
    body = text(response)
    assert NOT_TAKING in body
    assert "<h1>Consultation</h1>" in body
    assert 'id="booking-form"' not in body
    assert 'name="start"' not in body
    assert "slot" not in body.lower()
    # Nothing was asked of Exchange for a page that can't take the booking anyway.
    assert world.sim.log == []


def test_a_customer_is_not_told_what_the_owner_has_to_fix(world: World) -> None:
    page = editor_page(world.staff("olivia"))
    body = text(Client().get(f"/{page.slug}/"))
    assert NOT_TAKING in body
    assert "main booking calendar" not in body
    assert f"/pages/{page.pk}/calendars/" not in body


def test_its_owner_sees_what_to_fix_with_a_link_to_the_calendars_page(
    world: World, client: Client
) -> None:
    owner = world.staff("olivia")
    page = editor_page(owner)
    client.force_login(owner)
    body = text(client.get(f"/{page.slug}/"))
    assert NOT_TAKING in body
    assert "Choose a main booking calendar: bookings are written there." in body
    assert f'href="/pages/{page.pk}/calendars/"' in body


def test_another_staff_member_sees_only_what_customers_see(world: World, client: Client) -> None:
    page = editor_page(world.staff("olivia"))
    client.force_login(world.staff("peter"))
    body = text(client.get(f"/{page.slug}/"))
    assert NOT_TAKING in body
    assert "main booking calendar" not in body


def test_the_form_posted_anyway_books_nothing_and_says_why(world: World) -> None:
    page = editor_page(world.staff("olivia"))
    data = {
        "start": monday_after().replace(hour=10).isoformat(),
        "name": "Ann Customer",
        "email": "ann@example.com",
        "timezone": "UTC",
    }
    response = Client().post(f"/{page.slug}/book/", data)
    assert response.status_code == 409
    assert NOT_TAKING in text(response)
    assert not Booking.objects.exists()


def test_a_main_calendar_whose_permission_was_withdrawn_takes_the_page_offline(
    world: World,
) -> None:
    owner = world.staff("olivia")
    page = world.page(owner)
    assert page.not_ready_reason() == ""
    assert slots(page).status_code == 200
    world.sim.set_permission(owner.email, world.corporate().email, "Reviewer")
    recheck_page_calendars()
    assert "may no longer create events" in page.not_ready_reason()
    assert NOT_TAKING in text(Client().get(f"/{page.slug}/"))
    assert slots(page).status_code == 409
    # Days with nothing to offer anyway (in the past) say the same, not "no slots".
    past = Client().get(
        f"/api/v1/pages/{page.slug}/slots", {"start": "2020-01-06", "end": "2020-01-06"}
    )
    assert past.status_code == 409


def test_a_page_whose_owner_withdrew_consent_to_book_into_their_calendar_is_offline(
    world: World,
) -> None:
    owner = world.staff("olivia")
    colleague = world.staff("peter")
    world.allow(colleague, owner)
    page = world.page(owner, roles={colleague.email: "main"})
    assert page.not_ready_reason() == ""
    colleague.corporate_membership.allowed_colleagues.clear()
    assert "has not allowed you" in page.not_ready_reason()
    assert slots(page).status_code == 409


# --- the APIs ------------------------------------------------------------------------------


def test_the_slots_api_answers_409_with_a_message_and_a_code(world: World) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, roles={owner.email: "busy"})
    world.sim.clear_log()
    response = slots(page)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This booking page isn't taking bookings yet.",
        "code": "not_taking_bookings",
    }
    assert world.sim.log == []


def test_the_booking_api_answers_409_before_looking_at_the_fields(world: World) -> None:
    page = editor_page(world.staff("olivia"))
    response = book(page, name="", start="whenever")
    assert response.status_code == 409
    assert response.json()["code"] == "not_taking_bookings"
    assert book(page).json()["code"] == "not_taking_bookings"
    assert not Booking.objects.exists()


def test_the_schema_documents_the_409_of_both_apis(db) -> None:  # type: ignore[no-untyped-def]
    schema = Client().get("/api/v1/schema/", {"format": "json"}).json()
    slots_get = schema["paths"]["/api/v1/pages/{slug}/slots"]["get"]
    assert "not_taking_bookings" in slots_get["responses"]["409"]["description"]
    booking_post = schema["paths"]["/api/v1/pages/{slug}/bookings"]["post"]
    assert "409" in booking_post["responses"]
    codes = schema["components"]["schemas"]["Error"]["properties"]["code"]
    assert "not_taking_bookings" in str(codes) and "off_grid" in str(codes)


# --- staff ---------------------------------------------------------------------------------


def test_the_page_list_and_the_editor_show_the_page_as_not_taking_bookings(
    world: World, client: Client
) -> None:
    owner = world.staff("olivia")
    page = editor_page(owner)
    ready = world.page(owner, title="Ready page")
    client.force_login(owner)
    listing = text(client.get("/pages/"))
    new_card = card(listing, page)
    assert '<span class="badge badge-warn">Not taking bookings</span>' in new_card
    assert "Choose a main booking calendar" in new_card
    ready_card = card(listing, ready)
    assert '<span class="badge badge-ok">Active</span>' in ready_card
    editor = text(client.get(f"/pages/{page.pk}/"))
    assert "Not taking bookings" in editor
    assert "Choose a main booking calendar" in editor
    assert f'href="/pages/{page.pk}/calendars/"' in editor
    assert "Not taking bookings" not in text(client.get(f"/pages/{ready.pk}/"))


def test_the_calendars_page_proposes_the_owners_own_calendar_and_one_click_makes_it_main(
    world: World, client: Client
) -> None:
    owner = world.staff("olivia")
    page = editor_page(owner)
    assert slots(page).status_code == 409  # and this process keeps the page's schedule
    client.force_login(owner)
    body = text(client.get(f"/pages/{page.pk}/calendars/"))
    assert "Not taking bookings: choose a main booking calendar." in body
    assert f"Use your own calendar, <strong>{owner.email} / Calendar</strong>" in body
    response = client.post(f"/pages/{page.pk}/calendars/", {"action": "use_own_main"})
    assert response.status_code == 302
    main = page.main_calendar()
    assert main is not None
    assert (main.calendar.owner_email, main.calendar.is_primary) == (owner.email, True)
    assert page.not_ready_reason() == ""
    after = text(client.get(response.url))
    assert "is the main booking calendar" in after
    assert 'id="use-own-main"' not in after
    assert slots(page).status_code == 200
    assert slots(page).json()["slots"]


def test_the_proposal_is_never_a_calendar_exchange_no_longer_shares(
    world: World, client: Client
) -> None:
    owner = world.staff("olivia")
    page = editor_page(owner)
    client.force_login(owner)
    client.get(f"/pages/{page.pk}/calendars/")  # discovery reads the owner's calendars
    # The row discovery made first is now one whose folder went (it has marked it gone),
    # and a newer row is the calendar as Exchange shares it today.
    stale = CalendarRef.objects.get(owner_email=owner.email, is_primary=True)
    folder_id = stale.folder_id
    CalendarRef.objects.filter(pk=stale.pk).update(
        folder_id="AAMkAGone", error="No longer shared with this connection."
    )
    stale.pk = None
    stale.folder_id = folder_id
    stale.save()
    current = stale
    response = client.post(f"/pages/{page.pk}/calendars/", {"action": "use_own_main"})
    assert response.status_code == 302
    main = page.main_calendar()
    assert main is not None and main.calendar_id == current.pk
    assert page.not_ready_reason() == ""


def test_the_proposal_keeps_the_other_calendars_roles(world: World, client: Client) -> None:
    owner = world.staff("olivia")
    colleague = world.person("peter")
    page = world.page(owner, roles={colleague.email: "busy"})
    client.force_login(owner)
    PageCalendarOwner.objects.get_or_create(page=page, email=owner.email)
    assert 'id="use-own-main"' in text(client.get(f"/pages/{page.pk}/calendars/"))
    client.post(f"/pages/{page.pk}/calendars/", {"action": "use_own_main"})
    roles = sorted(page.page_calendars.values_list("calendar__owner_email", "role"))
    assert roles == sorted([(owner.email, CalendarRole.MAIN), (colleague.email, "busy")])


def test_no_proposal_when_the_connection_cant_write_to_the_owners_calendar(
    world: World, client: Client
) -> None:
    owner = world.staff("olivia", delegate=False)  # free/busy only: no Editor, no Delegate
    page = editor_page(owner)
    client.force_login(owner)
    body = text(client.get(f"/pages/{page.pk}/calendars/"))
    assert "Not taking bookings: choose a main booking calendar." in body
    assert 'id="use-own-main"' not in body
    # Posted anyway (an old tab): nothing changes, and the page says why.
    response = client.post(f"/pages/{page.pk}/calendars/", {"action": "use_own_main"}, follow=True)
    assert "can&#x27;t be the main booking calendar now" in text(response)
    assert page.main_calendar() is None


def test_no_proposal_and_no_banner_on_a_page_that_has_a_main_calendar(
    world: World, client: Client
) -> None:
    owner = world.staff("olivia")
    page = world.page(owner)
    client.force_login(owner)
    body = text(client.get(f"/pages/{page.pk}/calendars/"))
    assert 'id="not-ready"' not in body
    assert 'id="use-own-main"' not in body


def test_another_staff_member_cant_set_the_main_calendar_of_a_page_not_theirs(
    world: World, client: Client
) -> None:
    page = editor_page(world.staff("olivia"))
    client.force_login(world.staff("peter"))
    response = client.post(f"/pages/{page.pk}/calendars/", {"action": "use_own_main"})
    assert response.status_code == 404
    assert page.main_calendar() is None


def test_slots_reuse_the_readiness_check_for_a_few_seconds_but_a_booking_never_does(
    world: World,
    settings,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    from bookings import memo

    settings.READINESS_CACHE_SECONDS = 5
    clock = [1_000.0]
    monkeypatch.setattr(memo, "monotonic", lambda: clock[0])
    owner = world.staff("rita")
    page = world.page(owner)
    day = monday_after()
    url, query = f"/api/v1/pages/{page.slug}/slots", {"start": day.date(), "end": day.date()}
    assert Client().get(url, query).status_code == 200

    # The connection loses write access to the main calendar (no version moves for that).
    CalendarRef.objects.filter(connection=world.corporate(), owner_email=owner.email).update(
        can_create=False
    )
    clock[0] += 4  # within the 5 seconds: slots are still offered...
    assert Client().get(url, query).json()["slots"]
    # ...but a booking checks afresh and is refused.
    booking = Client().post(
        f"/api/v1/pages/{page.slug}/bookings",
        {
            "name": "Ann",
            "email": "ann@example.com",
            "timezone": "UTC",
            "start": day.replace(hour=10).isoformat(),
        },
        content_type="application/json",
    )
    assert booking.status_code == 409 and booking.json()["code"] == "not_taking_bookings"
    assert not Booking.objects.exists()

    clock[0] += 2  # past it: the slots API says so too
    answer = Client().get(url, query)
    assert answer.status_code == 409 and answer.json()["code"] == "not_taking_bookings"
