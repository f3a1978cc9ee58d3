"""Confirmed bookings reach Exchange whatever Exchange does: throttling, outages, a rotated
password, a retried task, a lost permission. Over the wire against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from bookings import actions, write_status, writes
from bookings.models import EventWrite, WriteState
from calendars import connect
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


CUSTOMER = actions.CustomerDetails("Ann Customer", "ann@example.com", "Europe/Paris")


@pytest.fixture
def page(world):  # type: ignore[no-untyped-def]
    return world.page(world.staff("olivia"), tz="Europe/London", title="Consultation")


def book(page, hour: int = 10):  # type: ignore[no-untyped-def]
    """Book without running the write: the tests run `writes.perform` themselves."""
    return actions.book(page, monday_after().replace(hour=hour), CUSTOMER)


def subjects(world, owner: str, calendar: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.subject for e in world.sim.events(owner, calendar)]


def test_a_write_throttled_by_exchange_is_retried_after_its_back_off(world, page) -> None:
    booking = book(page)
    write = booking.writes.get()
    world.sim.throttle(count=5, back_off_ms=2500)
    delay = writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.FAILING and write.last_error_code == "throttled"
    # Exchange's back-off, not our own guess: EWS's BackOffMilliseconds, Graph's Retry-After
    # (whole seconds: 2.5 s is sent as 3).
    assert delay == pytest.approx(3.0 if world.graph else 2.5)
    assert write.next_attempt_at is not None
    world.sim.clear_faults()
    assert writes.perform(write.pk) is None
    write.refresh_from_db()
    assert write.state == WriteState.DONE
    assert subjects(world, page.owner.email) == ["Consultation: Ann Customer"]


def test_the_booking_stays_while_exchange_is_down_and_the_event_lands_when_it_is_back(
    world, page
) -> None:
    booking = book(page)
    write = booking.writes.get()
    world.sim.go_down()
    first = writes.perform(write.pk)
    second = writes.perform(write.pk)
    assert first is not None and second is not None and second > first  # exponential
    write.refresh_from_db()
    assert write.state == WriteState.FAILING and write.attempts == 2
    assert "reach" in write.last_error.lower() or "unavailable" in write.last_error.lower()
    booking.refresh_from_db()
    assert booking.status == "confirmed"

    world.sim.come_up()
    # The periodic sweep finds the write once its back-off is over.
    assert write.pk in writes.due(now=write.next_attempt_at + timedelta(seconds=1))
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.DONE
    assert subjects(world, page.owner.email) == ["Consultation: Ann Customer"]


def test_a_retried_write_does_not_duplicate_the_event(world, page) -> None:
    booking = book(page)
    write = booking.writes.get()
    writes.perform(write.pk)
    # As if the worker died after Exchange created the event but before we saved its id.
    EventWrite.objects.filter(pk=write.pk).update(state=WriteState.PENDING, item_id="")
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.DONE
    assert len(world.sim.events(page.owner.email)) == 1
    assert write.item_id == world.item_ref(world.sim.events(page.owner.email)[0])


def test_a_write_that_already_holds_its_lease_is_not_run_twice(world, page) -> None:
    booking = book(page)
    write = booking.writes.get()
    EventWrite.objects.filter(pk=write.pk).update(
        lease_until=datetime.now(UTC) + timedelta(minutes=1)
    )
    assert writes.perform(write.pk) is None
    assert world.sim.events(page.owner.email) == []


def test_additional_booking_calendars_get_a_copy(world) -> None:
    owner = world.staff("olivia")
    colleague = world.staff("peter")
    world.allow(colleague, owner)
    world.sub_calendar(owner.email, "Clients")
    page = world.page(
        owner,
        roles={
            owner.email: "main",
            colleague.email: "additional",
            f"{owner.email}/Clients": "additional",
        },
    )
    booking = book(page)
    assert booking.writes.count() == 3
    assert booking.writes.first().role == "main"  # the main calendar is written first
    for write in booking.writes.all():
        writes.perform(write.pk)
    assert set(booking.writes.values_list("state", flat=True)) == {WriteState.DONE}
    assert subjects(world, owner.email) == ["Consultation: Ann Customer"]
    assert subjects(world, owner.email, "Clients") == ["Consultation: Ann Customer"]
    assert subjects(world, colleague.email) == ["Consultation: Ann Customer"]


def test_a_calendar_that_lost_write_permission_shows_a_failing_write_with_a_clear_error(
    world, page, settings
) -> None:
    settings.WRITE_ALERT_AFTER_ATTEMPTS = 2
    booking = book(page)
    write = booking.writes.get()
    world.sim.set_permission(page.owner.email, world.corporate().email, "Reviewer")
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.FAILING
    assert write.last_error_code == "access_denied"
    assert "permission" in write.last_error.lower()
    assert write_status.summary(booking.writes.all()).words == "Couldn't write"  # type: ignore[union-attr]
    assert mail.outbox == []
    writes.perform(write.pk)  # the second failure in a row tells the owner and the admins
    assert [m.to for m in mail.outbox] == [[page.owner.email]] or page.owner.email in mail.outbox[
        0
    ].to
    assert "Consultation" in mail.outbox[0].subject or "calendar" in mail.outbox[0].subject.lower()


# The app holds the dedicated mailbox's password over EWS only; over delegated Graph it holds
# a refresh token instead (the Graph version is the next test).
@pytest.mark.parametrize("protocol", ["ews"], indirect=True)
def test_a_write_after_password_rotation_succeeds_and_failed_writes_are_retried_at_once(
    world, page, eager_writes, django_user_model, django_capture_on_commit_callbacks
) -> None:
    corporate = world.corporate()
    booking = book(page)
    write = booking.writes.get()
    world.sim.set_password(corporate.email, "the-new-password-2027")  # rotated in AD first
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.last_error_code == "auth_failed"
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x")

    with django_capture_on_commit_callbacks(execute=True):
        connect.rotate_secret(corporate, "the-new-password-2027", admin)

    write.refresh_from_db()
    assert write.state == WriteState.DONE  # re-queued by the rotation, not by a timer
    assert subjects(world, page.owner.email) == ["Consultation: Ann Customer"]


@pytest.mark.parametrize("protocol", ["graph"], indirect=True)
def test_a_write_after_the_mailbox_signs_in_with_microsoft_again_succeeds(
    world, page, django_capture_on_commit_callbacks
) -> None:
    """Over Graph the dedicated mailbox's password is Entra's, not the app's: changing it
    revokes the refresh token the app holds (AADSTS50173). Writes then fail as a sign-in
    problem, the booking stands, and once the connection is signed in again the write lands
    with the new token, not a revoked one cached by msal or the Graph session."""
    corporate = world.corporate()
    booking = book(page)
    write = booking.writes.get()
    idp = world.sim.identity_provider
    idp.set_user_password(corporate.email, "the-new-password-2027")  # changed in Entra
    idp.expire_tokens()  # the access token already issued lives out its hour first
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.FAILING and write.last_error_code == "auth_failed"
    booking.refresh_from_db()
    assert booking.status == "confirmed"

    # The admin signs the dedicated mailbox in with Microsoft again (Django admin's "Sign in
    # with Microsoft again"): a new refresh token in place, and the failed write is retried
    # at once, as after a password rotation.
    world.people[corporate.email].password = "the-new-password-2027"
    token = world.microsoft_sign_in(corporate.email)
    from scheduler_site.celery import app as celery

    celery.conf.task_always_eager = True  # the retry runs here, as a worker would run it
    try:
        with django_capture_on_commit_callbacks(execute=True):
            connect.connect_corporate_microsoft(corporate.email, token)
    finally:
        celery.conf.task_always_eager = False

    write.refresh_from_db()
    assert write.state == WriteState.DONE
    assert subjects(world, page.owner.email) == ["Consultation: Ann Customer"]


def test_cancelling_deletes_the_event_and_rescheduling_moves_the_same_event(world, page) -> None:
    booking = book(page, hour=10)
    write = booking.writes.get()
    writes.perform(write.pk)
    write.refresh_from_db()
    item_id = write.item_id

    new_start = monday_after().replace(hour=14)
    actions.reschedule(booking, new_start, by="staff")
    writes.perform(write.pk)
    events = world.sim.events(page.owner.email)
    assert [(world.item_ref(e), e.start) for e in events] == [(item_id, new_start)]

    world.sim.clear_log()
    actions.cancel(booking, by="customer")
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.DONE and write.desired == "absent"
    assert world.sim.events(page.owner.email) == []
    # One round trip: the item id is enough, DeleteItem (Graph's DELETE) needs no GetItem or
    # GetFolder first.
    assert [e.operation for e in world.sim.log] == [
        "graph:deleteEvent" if world.graph else "DeleteItem"
    ]


def test_a_booking_changed_while_its_event_was_written_is_written_again(world, page) -> None:
    booking = book(page, hour=10)
    write = booking.writes.get()
    # The customer moves the booking between our claim and our save: simulated by bumping
    # the sequence the write saw.
    original = writes.event_for

    def moving(booking_arg, write_arg):  # type: ignore[no-untyped-def]
        event = original(booking_arg, write_arg)
        from bookings.models import Booking

        Booking.objects.filter(pk=booking.pk).update(sequence=5)
        return event

    writes.event_for = moving
    try:
        assert writes.perform(write.pk) == 0.0
    finally:
        writes.event_for = original
    write.refresh_from_db()
    assert write.state == WriteState.PENDING
    assert writes.perform(write.pk) is None
    write.refresh_from_db()
    assert write.state == WriteState.DONE and write.written_version == 5


def test_a_cancelled_booking_cannot_be_cancelled_or_moved_again(page) -> None:
    booking = book(page)
    actions.cancel(booking, by="customer")
    with pytest.raises(actions.NotChangeable):
        actions.cancel(booking, by="customer")
    with pytest.raises(actions.NotChangeable):
        actions.reschedule(booking, monday_after().replace(hour=11), by="staff")


def test_customers_cannot_change_a_booking_inside_the_minimum_notice(page) -> None:
    booking = book(page)
    page.min_notice_minutes = 60 * 24 * 30
    page.save()
    with pytest.raises(actions.NotChangeable, match="30 days"):
        actions.cancel(booking, by="customer")
    actions.cancel(booking, by="staff", reason="Owner is ill")


def test_the_event_carries_the_booking_uid_subject_template_location_and_answers(
    world,
) -> None:
    from bookings.models import Question

    owner = world.staff("olivia")
    page = world.page(
        owner,
        title="Consultation",
        location="Room 4.01",
        subject_template="{name} ({title})",
    )
    q = Question.objects.create(page=page, label="Topic")
    customer = actions.CustomerDetails(
        "Ann Customer", "ann@example.com", "UTC", answers={q.key: "<b>Licensing</b>"}
    )
    booking = actions.book(page, monday_after().replace(hour=10), customer)
    writes.perform(booking.writes.get().pk)
    (event,) = world.sim.events(owner.email)
    assert event.subject == "Ann Customer (Consultation)"
    assert event.location == "Room 4.01"
    assert "Topic: <b>Licensing</b>" in event.body and event.body_type == "Text"
    assert booking.uid in [v for prop in event.extended.values() for v in prop.values]
    assert world.sim.sent == [] or all(m.item_id != event.id for m in world.sim.sent)


def test_the_page_can_ask_exchange_to_invite_the_customer(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, send_exchange_invitation=True)
    booking = actions.book(page, monday_after().replace(hour=10), CUSTOMER)
    writes.perform(booking.writes.get().pk)
    (event,) = world.sim.events(owner.email)
    invitations = [m for m in world.sim.sent if m.item_id == event.id]
    assert [(m.kind, m.recipients) for m in invitations] == [("invitation", ["ann@example.com"])]


def test_booking_and_cancelling_drop_the_cached_busy_time_of_the_owner(world) -> None:
    from django.test import Client

    owner = world.staff("olivia")
    page = world.page(owner)
    day = monday_after().date()
    url = f"/api/v1/pages/{page.slug}/slots"
    Client().get(url, {"start": day, "end": day})
    world.sim.clear_log()
    Client().get(url, {"start": day, "end": day})
    assert world.sim.log == []  # served from the cache

    booking = actions.book(page, monday_after().replace(hour=10), CUSTOMER)
    from bookings.actions import _after_change

    _after_change(booking, "booked")  # what the commit hook does
    world.sim.clear_log()
    Client().get(url, {"start": day, "end": day})
    assert [e.operation for e in world.sim.log] == [
        "graph:getSchedule" if world.graph else "GetUserAvailability"
    ]


def test_a_worker_restarted_after_a_crash_releases_the_dead_workers_leases_at_once(
    world, page, eager_writes
) -> None:
    import socket
    import subprocess
    import sys

    from bookings.tasks import release_dead_leases

    booking = book(page)
    write = booking.writes.get()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    EventWrite.objects.filter(pk=write.pk).update(
        lease_until=datetime.now(UTC) + timedelta(minutes=2),
        lease_holder=f"{socket.gethostname()}:{dead.stdout.strip()}",
    )
    assert writes.perform(write.pk) is None  # still leased: nothing happens
    assert world.sim.events(page.owner.email) == []

    release_dead_leases()  # what a starting worker does

    write.refresh_from_db()
    assert write.state == WriteState.DONE and write.lease_holder == ""
    assert subjects(world, page.owner.email) == ["Consultation: Ann Customer"]


def test_a_lease_held_by_a_live_worker_is_left_alone(world, page) -> None:
    import os
    import socket

    booking = book(page)
    write = booking.writes.get()
    EventWrite.objects.filter(pk=write.pk).update(
        lease_until=datetime.now(UTC) + timedelta(minutes=2),
        lease_holder=f"{socket.gethostname()}:{os.getpid()}",
    )
    assert writes.release_dead_leases() == []


def test_rescheduling_an_event_the_owner_made_all_day_makes_it_a_timed_event_again(
    world, page
) -> None:
    from calendars.simulator.items import snap_all_day

    booking = book(page, hour=10)
    write = booking.writes.get()
    writes.perform(write.pk)
    write.refresh_from_db()
    # The owner ticks "All day" in Outlook: Exchange snaps it to the day's midnights.
    with world.sim.store.lock:
        _, item = world.sim.store.find_item(world.in_store(write.item_id))
        item.is_all_day = True
        snap_all_day(item)

    # The all-day event now blocks its whole day (it is no longer at the booking's time).
    new_start = monday_after().replace(hour=14) + timedelta(days=1)
    actions.reschedule(booking, new_start, by="staff")
    writes.perform(write.pk)
    (event,) = world.sim.events(page.owner.email)
    assert (event.start, event.end, event.is_all_day) == (
        new_start,
        new_start + (booking.end - booking.start),
        False,
    )


def test_a_reschedule_lands_although_the_owner_changed_the_event_in_between(world, page) -> None:
    booking = book(page, hour=10)
    write = booking.writes.get()
    writes.perform(write.pk)
    write.refresh_from_db()

    def owner_saves_it_in_outlook() -> None:
        # Between the app's GetItem and its UpdateItem the owner adds a note: a new
        # ChangeKey, so Exchange refuses the app's update as a conflict. Over Graph the app
        # PATCHes without an If-Match: the owner's save just before it is the same race.
        with world.sim.store.lock:
            _, item = world.sim.store.find_item(world.in_store(write.item_id))
            item.categories = ["Customer"]
            item.touch()

    update = "graph:updateEvent" if world.graph else "UpdateItem"
    world.sim.before(update, owner_saves_it_in_outlook)
    world.sim.clear_log()
    new_start = monday_after().replace(hour=14)
    actions.reschedule(booking, new_start, by="staff")
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.DONE, write.last_error
    (event,) = world.sim.events(page.owner.email)
    assert (world.item_ref(event), event.start, event.categories) == (
        write.item_id,
        new_start,
        ["Customer"],
    )
    updates = [e.outcome for e in world.sim.log if e.operation == update]
    # EWS: refused once as a conflict, then retried with the new ChangeKey. Graph: one PATCH
    # that changes only what the booking owns, so the owner's note stays.
    assert updates == (["NoError"] if world.graph else ["ErrorIrresolvableConflict", "NoError"])


def test_a_subject_longer_than_exchange_keeps_is_cut_and_the_event_is_still_found(
    world,
) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, title="T" * 200, subject_template="{title}: {name}")
    customer = actions.CustomerDetails("N" * 150, "ann@example.com", "UTC")
    booking = actions.book(page, monday_after().replace(hour=10), customer)
    write = booking.writes.get()
    writes.perform(write.pk)
    (event,) = world.sim.events(owner.email)
    assert event.subject == ("T" * 200 + ": " + "N" * 150)[:255]
    # A retry finds the event by the booking's uid, never by its (cut) subject.
    write.refresh_from_db()
    EventWrite.objects.filter(pk=write.pk).update(state=WriteState.PENDING, item_id="")
    writes.perform(write.pk)
    assert [e.id for e in world.sim.events(owner.email)] == [event.id]
