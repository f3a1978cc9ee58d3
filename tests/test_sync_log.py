"""The sync log: one row per call the app makes to Exchange, never a secret or a subject;
pruned after SYNC_LOG_RETENTION_DAYS; browsable by admins with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calendars import busy, connect, discovery, events, tasks
from calendars.backends.base import EventData
from calendars.models import CorporateMember, ExchangeConnection, SyncLogEntry
from tests.world import Person, World

pytestmark = pytest.mark.django_db

SUBJECT = "Divorce settlement with Mr Smith"  # in the owner's calendar, read as busy time
BOOKING = "Consultation with Jane Customer"  # what the app writes
BODY = "Jane's phone: +44 20 7946 0000"


def row_text(entry: SyncLogEntry) -> str:
    """Everything a row holds, as an admin (or a log shipper) would see it."""
    return " ".join(str(getattr(entry, f.attname)) for f in SyncLogEntry._meta.concrete_fields)


def member(world: World, django_user_model: Any) -> tuple[ExchangeConnection, Person]:
    conn = world.corporate()
    alice = world.person("alice")
    world.sim.add_delegate(alice.email, conn.email)
    user = django_user_model.objects.create_user(f"alice-{world.tag}", alice.email)
    CorporateMember.objects.create(
        user=user, connection=conn, mailbox=alice.email, proven_at=timezone.now()
    )
    return conn, alice


def test_every_call_to_exchange_is_logged_without_secrets_or_subjects(
    world: World, django_user_model: Any
) -> None:
    sim = world.sim
    conn, alice = member(world, django_user_model)
    sim.add_calendar(alice.email, "Clinic")
    sim.set_permission(alice.email, conn.email, "Reviewer", calendar="Clinic")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    sim.add_event(alice.email, start, start + timedelta(hours=1), SUBJECT, body=BODY)

    # What the app does with Exchange: test the connection, check delegation, discover
    # calendars, read busy time, write and delete a booking's event.
    assert connect.verify(conn) is None
    connect.check_member(CorporateMember.objects.get(mailbox=alice.email))
    refs = discovery.discover(conn, alice.email).calendars
    assert {ref.name for ref in refs} == {"Calendar", "Clinic"}
    busy.busy_intervals(conn, refs, start, start + timedelta(days=1), fresh=True)
    target = busy.target_for(next(r for r in refs if r.is_primary))
    event = EventData(
        uid="booking-1",
        subject=BOOKING,
        body=BODY,
        location="Room 4",
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=3),
        timezone="Europe/London",
    )
    item_id = events.put(conn, target, event)
    events.remove(conn, target, "booking-1", item_id)

    entries = list(SyncLogEntry.objects.order_by("created", "pk"))
    # Busy time for the two calendars is read in parallel, so compare without order.
    assert sorted((e.direction, e.operation) for e in entries) == sorted(
        [
            ("verify", "GetFolder"),
            ("verify", "GetFolder"),
            ("verify", "GetDelegate"),  # refused to a delegate: an answer, logged as one
            ("read", "GetFolder"),
            ("read", "FindFolder"),
            ("read", "GetUserAvailability"),
            ("read", "FindItem"),  # the sub-calendar's busy time (CalendarView)
            ("read", "FindItem"),  # looking for the booking's event before creating it
            ("write", "CreateItem"),
            ("write", "DeleteItem"),
        ]
    )
    assert all(e.ok and e.outcome == "ok" and e.connection_id == conn.pk for e in entries)
    assert entries[0].target_mailbox == conn.email
    assert {e.target_mailbox for e in entries[1:]} == {alice.email}

    # Every operation Exchange served is in the log under the same mailbox, apart from the
    # steps inside one logged call: version discovery, and fetching the item to delete.
    served = {(e.operation, e.target) for e in sim.log} - {("ConvertId", None)}
    served -= {("GetItem", alice.email), ("GetServerTimeZones", None)}
    assert served <= {(e.operation, e.target_mailbox) for e in entries}

    for entry in entries:
        text = row_text(entry)
        for secret in (world.corporate().password, SUBJECT, BOOKING, BODY, "Room 4"):
            assert secret not in text


def test_a_slots_request_logs_each_exchange_read_it_made_in_parallel(world: World) -> None:
    owner = world.staff("olivia")
    world.sub_calendar(owner.email, "Clinic", "Reviewer")
    page = world.page(owner, roles={owner.email: "main", f"{owner.email}/Clinic": "busy"})
    SyncLogEntry.objects.all().delete()
    day = (timezone.now() + timedelta(days=7)).date()
    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots", {"start": day.isoformat(), "end": day.isoformat()}
    )
    assert response.status_code == 200
    # Free/busy and CalendarView ran on background threads; their rows reach the database
    # through the request's own connection.
    entries = SyncLogEntry.objects.all()
    assert sorted((e.operation, e.target_mailbox, e.ok) for e in entries) == [
        ("FindItem", owner.email, True),
        ("GetUserAvailability", owner.email, True),
    ]


def test_a_failed_call_is_logged_with_what_went_wrong_and_how_long_it_took(
    world: World, django_user_model: Any
) -> None:
    conn, _ = member(world, django_user_model)
    world.sim.set_password(conn.email, "changed-by-it")
    world.sim.set_latency(0.2)
    assert connect.verify(conn) is not None
    [entry] = SyncLogEntry.objects.all()
    assert (entry.direction, entry.operation, entry.ok) == ("verify", "GetFolder", False)
    assert entry.outcome == "auth_failed"
    assert entry.target_mailbox == conn.email
    assert entry.duration_ms >= 200
    assert "changed-by-it" not in row_text(entry) and conn.password not in row_text(entry)


def test_an_unreachable_server_is_logged_as_such(world: World, django_user_model: Any) -> None:
    conn, alice = member(world, django_user_model)
    world.sim.go_down()
    result = discovery.discover(conn, alice.email)
    assert result.calendars == []
    [entry] = SyncLogEntry.objects.all()
    assert (entry.direction, entry.ok, entry.outcome) == ("read", False, "unreachable")


# --- pruning ----------------------------------------------------------------------------


def entry(age: timedelta, operation: str = "GetFolder") -> SyncLogEntry:
    return SyncLogEntry.objects.create(
        created=timezone.now() - age,
        direction="read",
        operation=operation,
        target_mailbox="alice@contoso.example",
        ok=True,
        outcome="ok",
    )


def test_pruning_deletes_entries_older_than_the_retention_and_keeps_newer_ones(
    settings: Any,
) -> None:
    settings.SYNC_LOG_RETENTION_DAYS = 7
    entry(timedelta(days=30), "Ancient")
    entry(timedelta(days=7, minutes=1), "JustTooOld")
    entry(timedelta(days=6, hours=23), "StillKept")
    entry(timedelta(0), "Fresh")

    assert tasks.prune_sync_log() == 2
    assert set(SyncLogEntry.objects.values_list("operation", flat=True)) == {
        "StillKept",
        "Fresh",
    }


def test_pruning_follows_the_configured_number_of_days(settings: Any) -> None:
    settings.SYNC_LOG_RETENTION_DAYS = 90
    entry(timedelta(days=30))
    assert tasks.prune_sync_log() == 0
    assert SyncLogEntry.objects.count() == 1


def test_pruning_runs_on_the_celery_beat_schedule(settings: Any) -> None:
    tasks_scheduled = {job["task"] for job in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "calendars.tasks.prune_sync_log" in tasks_scheduled


# --- Django admin -----------------------------------------------------------------------


@pytest.fixture
def admin_client_(client: Any, django_user_model: Any) -> Any:
    admin = django_user_model.objects.create_superuser("admin", "admin@contoso.example", None)
    client.force_login(admin)
    return client


def test_admins_see_the_sync_log_with_filters(admin_client_: Any) -> None:
    entry(timedelta(minutes=5), "GetFolder")
    failed = entry(timedelta(minutes=1), "CreateItem")
    failed.ok, failed.outcome, failed.direction = False, "access_denied", "write"
    failed.connection = ExchangeConnection.objects.create(
        kind="corporate", email="booking-sync@contoso.example", password="s3cret-pw"
    )
    failed.save()

    url = reverse("admin:calendars_synclogentry_changelist")
    response = admin_client_.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="changelist-filter"' in page
    for title in ("By direction", "By ok", "By outcome", "By operation", "By connection"):
        assert title in page
    assert "CreateItem" in page and "GetFolder" in page
    assert "s3cret-pw" not in page

    failures = admin_client_.get(url, {"ok__exact": "0"})
    assert failures.status_code == 200
    assert [e.operation for e in failures.context["cl"].result_list] == ["CreateItem"]

    writes = admin_client_.get(url, {"direction__exact": "write"})
    assert [e.outcome for e in writes.context["cl"].result_list] == ["access_denied"]


def test_the_sync_log_is_read_only_in_admin(admin_client_: Any) -> None:
    logged = entry(timedelta(minutes=1))
    assert admin_client_.get(reverse("admin:calendars_synclogentry_add")).status_code == 403
    change = reverse("admin:calendars_synclogentry_change", args=[logged.pk])
    response = admin_client_.post(change, {"outcome": "tampered"})
    assert response.status_code == 403
    logged.refresh_from_db()
    assert logged.outcome == "ok"


def test_staff_who_are_not_admins_cannot_read_the_sync_log(
    client: Any, django_user_model: Any
) -> None:
    staff = django_user_model.objects.create_user("staff", "s@contoso.example", is_staff=True)
    client.force_login(staff)
    response = client.get(reverse("admin:calendars_synclogentry_changelist"))
    assert response.status_code == 403
