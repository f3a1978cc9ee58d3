"""The Microsoft Graph backend over real HTTPS against the simulator's Graph face.

Tokens come from the simulator's identity provider through msal (app-only client credentials,
or a delegated refresh token from "Connect with Microsoft"), exactly as in production;
nothing here mocks msal, requests or Graph.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calendars import oauth
from calendars.backends.base import CalendarTarget, EventData, SyncStateLost
from calendars.backends.graph import GraphBackend, forget_connection
from calendars.errors import (
    AccessDenied,
    AuthenticationFailed,
    ItemNotFound,
    MailboxNotFound,
    MailboxOnPremises,
    Throttled,
)
from calendars.models import AuthType, ConnectionKind, ExchangeConnection, Protocol
from calendars.simulator import Simulator
from calendars.simulator.idp import IdentityProvider

pytestmark = pytest.mark.django_db

REDIRECT_URI = "http://localhost:8000/connection/microsoft/callback"
MONDAY = datetime(2027, 3, 1, tzinfo=UTC)  # a Monday, well in the simulator's future


@pytest.fixture(autouse=True)
def sim(graph_tls: Simulator) -> Simulator:
    return graph_tls


def mailbox(sim: Simulator, name: str) -> str:
    email = f"{name}-{uuid.uuid4().hex[:8]}@contoso.example"
    sim.add_mailbox(email, name.title(), f"pw-{email}")
    return email


class App:
    """An app registration granted Graph's application Calendars.ReadWrite."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.client_id = str(uuid.uuid4())
        self.secret = f"secret-{uuid.uuid4().hex}"
        idp.register_application(self.client_id, self.secret, roles=["Calendars.ReadWrite"])


@pytest.fixture
def app(idp: IdentityProvider) -> App:
    return App(idp)


def app_only(
    sim: Simulator, idp: IdentityProvider, app: App, secret: str = ""
) -> ExchangeConnection:
    return ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email=mailbox(sim, "booking-sync"),
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_APP,
        oauth_authority=idp.authority,
        oauth_client_id=app.client_id,
        oauth_client_secret=secret or app.secret,
    )


@pytest.fixture
def backend(sim: Simulator, idp: IdentityProvider, app: App) -> Iterator[GraphBackend]:
    conn = app_only(sim, idp, app)
    yield GraphBackend(conn)
    forget_connection(conn.pk)


@pytest.fixture
def delegated(
    settings: Any, sim: Simulator, idp: IdentityProvider, django_user_model: Any
) -> Iterator[GraphBackend]:
    """A staff member's "Connect with Microsoft" connection (delegated, Calendars.ReadWrite
    .Shared), signed in at the identity provider through msal's auth-code flow."""
    client_id = str(uuid.uuid4())
    idp.register_application(client_id, "site-app-secret", redirect_uris=[REDIRECT_URI])
    settings.MICROSOFT_CLIENT_ID = client_id
    settings.MICROSOFT_CLIENT_SECRET = "site-app-secret"
    settings.MICROSOFT_AUTHORITY = idp.authority
    email = mailbox(sim, "dora")
    password = f"Dora-{uuid.uuid4().hex[:6]}"
    idp.register_user(email, password)
    site = oauth.site_app()
    flow = site.initiate_auth_code_flow(
        list(oauth.GRAPH_SCOPES_USER), redirect_uri=REDIRECT_URI, response_mode="form_post"
    )
    result = site.acquire_token_by_auth_code_flow(
        flow, idp.sign_in(flow["auth_uri"], email, password)
    )
    oauth.raise_for_error(result)
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.PERSONAL,
        user=django_user_model.objects.create_user(f"staff-{uuid.uuid4().hex[:6]}"),
        email=email,
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_USER,
        oauth_refresh_token=result["refresh_token"],
    )
    yield GraphBackend(conn)
    forget_connection(conn.pk)


def graph_calls(sim: Simulator, operation: str) -> list[Any]:
    return [e for e in sim.log if e.operation == f"graph:{operation}"]


def event(uid: str = "", **fields: Any) -> EventData:
    values: dict[str, Any] = {
        "uid": uid or uuid.uuid4().hex,
        "subject": "Consultation with Ann",
        "body": "Booked online.",
        "location": "Room 4",
        "start": datetime(2027, 3, 2, 9, tzinfo=UTC),
        "end": datetime(2027, 3, 2, 10, tzinfo=UTC),
        "timezone": "Europe/London",
    }
    return EventData(**{**values, **fields})


# --- busy time ------------------------------------------------------------------------


def test_busy_time_of_twenty_people_comes_from_one_get_schedule(
    sim: Simulator, backend: GraphBackend
) -> None:
    owners = [mailbox(sim, f"p{i}") for i in range(20)]
    for i, owner in enumerate(owners):
        sim.add_event(
            owner, MONDAY + timedelta(hours=9 + i % 5), MONDAY + timedelta(hours=10 + i % 5)
        )
    sim.clear_log()
    targets = [CalendarTarget(owner) for owner in owners]
    found = backend.busy(targets, MONDAY, MONDAY + timedelta(days=7))
    assert len(graph_calls(sim, "getSchedule")) == 1
    for i, target in enumerate(targets):
        (only,) = found[target]
        assert only.start == MONDAY + timedelta(hours=9 + i % 5)
        assert only.status == "Busy"


def test_busy_time_of_twenty_five_people_takes_two_get_schedules_at_once(
    sim: Simulator, backend: GraphBackend
) -> None:
    owners = [mailbox(sim, f"q{i}") for i in range(25)]
    for owner in owners:
        sim.add_event(owner, MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=10))
    sim.clear_log()
    sim.set_latency(0.5, "graph:getSchedule")
    found = backend.busy([CalendarTarget(o) for o in owners], MONDAY, MONDAY + timedelta(days=1))
    first, second = graph_calls(sim, "getSchedule")
    assert all(len(found[CalendarTarget(o)]) == 1 for o in owners)
    # The two batches ran side by side: each was in flight (its half-second round trip)
    # while the other was, which one after the other they never are, however busy the
    # machine running the test.
    spans = sorted(
        (e.timestamp - timedelta(seconds=e.duration), e.timestamp) for e in (first, second)
    )
    assert spans[1][0] < spans[0][1]


def test_a_window_of_ninety_days_is_asked_in_windows_under_sixty_two_days(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "long")
    late = MONDAY + timedelta(days=80)
    sim.add_event(owner, late, late + timedelta(hours=1))
    sim.clear_log()
    found = backend.busy([CalendarTarget(owner)], MONDAY, MONDAY + timedelta(days=90))
    assert len(graph_calls(sim, "getSchedule")) == 2
    assert [b.start for b in found[CalendarTarget(owner)]] == [late]


def test_every_status_comes_back_for_the_page_to_weigh_working_elsewhere_included(
    sim: Simulator, backend: GraphBackend
) -> None:
    # As over EWS: a page decides which statuses block (Free never does by default, but a
    # page may list it), so the backend drops none; availabilityView would fold working
    # elsewhere into free, which is why scheduleItems are read.
    owner = mailbox(sim, "erin")
    at = MONDAY + timedelta(hours=9)
    sim.add_event(owner, at, at + timedelta(hours=1), status="Free")
    sim.add_event(
        owner, at + timedelta(hours=2), at + timedelta(hours=3), status="WorkingElsewhere"
    )
    sim.add_event(owner, at + timedelta(hours=4), at + timedelta(hours=5), status="Tentative")
    sim.add_event(owner, at + timedelta(hours=6), at + timedelta(hours=7), status="OOF")
    found = backend.busy([CalendarTarget(owner)], MONDAY, MONDAY + timedelta(days=1))
    assert [(b.start - at, b.status) for b in found[CalendarTarget(owner)]] == [
        (timedelta(0), "Free"),
        (timedelta(hours=2), "WorkingElsewhere"),
        (timedelta(hours=4), "Tentative"),
        (timedelta(hours=6), "OOF"),
    ]


def test_a_recurring_event_with_a_moved_occurrence_blocks_each_occurrence_where_it_is(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "rita")
    at = MONDAY + timedelta(hours=9)
    series = sim.add_event(
        owner, at, at + timedelta(minutes=30), recurrence={"pattern": "daily", "count": 3}
    )
    sim.modify_occurrence(owner, series, 2, start=at + timedelta(days=1, hours=5))
    sim.add_calendar(owner, "Clinic")
    sub = sim.add_event(
        owner,
        at,
        at + timedelta(minutes=30),
        calendar="Clinic",
        recurrence={"pattern": "daily", "count": 3},
    )
    sim.modify_occurrence(owner, sub, 2, start=at + timedelta(days=1, hours=5))
    primary, folder = (
        CalendarTarget(owner),
        CalendarTarget(owner, folder_id(backend, owner, "Clinic")),
    )
    found = backend.busy([primary, folder], MONDAY, MONDAY + timedelta(days=7))
    expected = [at, at + timedelta(days=1, hours=5), at + timedelta(days=2)]
    assert [b.start for b in found[primary]] == expected
    assert [b.start for b in found[folder]] == expected


def test_a_private_event_blocks_its_time_and_shows_nothing_else(
    sim: Simulator, delegated: GraphBackend
) -> None:
    owner = mailbox(sim, "pat")
    sim.set_permission(owner, delegated.connection.email, "Reviewer")
    at = MONDAY + timedelta(hours=13)
    sim.add_event(owner, at, at + timedelta(hours=1), "Therapy", sensitivity="Private")
    (busy,) = delegated.busy([CalendarTarget(owner)], MONDAY, MONDAY + timedelta(days=1))[
        CalendarTarget(owner)
    ]
    assert (busy.start, busy.end, busy.status) == (at, at + timedelta(hours=1), "Busy")
    assert "Therapy" not in repr(busy)


def test_an_all_day_event_on_the_spring_forward_day_blocks_that_whole_23_hour_day(
    sim: Simulator, backend: GraphBackend
) -> None:
    london = ZoneInfo("Europe/London")
    owner = mailbox(sim, "lon")
    sim.add_calendar(owner, "Leave")
    day, after = datetime(2027, 3, 28, tzinfo=london), datetime(2027, 3, 29, tzinfo=london)
    sim.add_event(owner, day, after, "Day off", tz="Europe/London", all_day=True)
    sim.add_event(owner, day, after, "Day off", tz="Europe/London", all_day=True, calendar="Leave")
    primary = CalendarTarget(owner)
    folder = CalendarTarget(owner, folder_id(backend, owner, "Leave"))
    window = (datetime(2027, 3, 26, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC))
    found = backend.busy([primary, folder], *window)
    # Midnight GMT to midnight BST: 23 hours, the last of them not lost.
    expected = (datetime(2027, 3, 28, 0, tzinfo=UTC), datetime(2027, 3, 28, 23, tzinfo=UTC))
    for target in (primary, folder):
        assert [(b.start, b.end) for b in found[target]] == [expected]


def test_an_unknown_address_makes_the_busy_time_unavailable_rather_than_free(
    sim: Simulator, backend: GraphBackend
) -> None:
    known = mailbox(sim, "known")
    with pytest.raises(MailboxNotFound):
        backend.busy(
            [CalendarTarget(known), CalendarTarget("nobody@contoso.example")],
            MONDAY,
            MONDAY + timedelta(days=1),
        )


def test_working_hours_come_from_get_schedule_in_an_iana_zone(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "wendy")
    hours = backend.working_hours(owner)
    assert hours is not None
    assert hours.zone  # an IANA name (Graph may send Windows ones: mapped)
    ZoneInfo(hours.zone)
    assert hours.periods and hours.periods[0].weekdays


# --- discovery and access -------------------------------------------------------------


def folder_id(backend: GraphBackend, owner: str, name: str) -> str:
    """The Graph id of one of `owner`'s calendars, as discovery gives it."""
    return next(c.folder_id for c in backend.discover(owner) if c.name == name)


def test_an_app_lists_its_members_calendars_and_may_book_into_each(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "carol")
    sim.add_calendar(owner, "Clinic")
    found = {c.name: c for c in backend.discover(owner)}
    assert set(found) == {"Calendar", "Clinic"}
    assert found["Calendar"].is_primary and found["Calendar"].folder_id == ""
    assert found["Clinic"].folder_id != "" and not found["Clinic"].is_primary
    assert all(c.can_create and c.can_read_items for c in found.values())
    assert backend.mailbox_access(owner).can_write is True


def test_a_calendar_shared_with_editor_is_bookable_and_reviewer_only_readable(
    sim: Simulator, delegated: GraphBackend
) -> None:
    me = delegated.connection.email
    editor_owner, reviewer_owner = mailbox(sim, "ed"), mailbox(sim, "rev")
    sim.set_permission(editor_owner, me, "Editor")
    sim.set_permission(reviewer_owner, me, "Reviewer")
    (shared,) = delegated.discover(editor_owner)
    assert (shared.is_primary, shared.folder_id, shared.can_create) == (True, "", True)
    assert shared.permission_level == "Editor"
    access = delegated.mailbox_access(editor_owner)
    assert (access.can_read, access.can_write, access.permission_level) == (True, True, "Editor")
    access = delegated.mailbox_access(reviewer_owner)
    assert (access.can_read, access.can_write, access.permission_level) == (
        True,
        False,
        "Reviewer",
    )


def test_a_calendar_with_free_busy_only_is_offered_for_busy_time_alone(
    sim: Simulator, delegated: GraphBackend
) -> None:
    owner = mailbox(sim, "fb")
    sim.set_permission(owner, delegated.connection.email, "FreeBusyTimeOnly")
    (only,) = delegated.discover(owner)
    assert (only.folder_id, only.permission_level, only.can_create, only.can_read_items) == (
        "",
        "FreeBusyTimeOnly",
        False,
        False,
    )
    access = delegated.mailbox_access(owner)
    assert (access.can_read, access.can_write) == (True, False)
    at = MONDAY + timedelta(hours=9)
    sim.add_event(owner, at, at + timedelta(hours=1))
    found = delegated.busy([CalendarTarget(owner)], MONDAY, MONDAY + timedelta(days=1))
    assert [b.start for b in found[CalendarTarget(owner)]] == [at]


def test_a_delegated_connection_verifies_with_its_own_profile(delegated: GraphBackend) -> None:
    delegated.verify()


def test_an_app_outside_its_rbac_scope_is_told_so_naming_the_mailbox(
    sim: Simulator, backend: GraphBackend, app: App
) -> None:
    outsider = mailbox(sim, "out")
    sim.store.app_scopes[app.client_id] = {backend.connection.email}
    backend.verify()  # its own mailbox is in scope
    with pytest.raises(AccessDenied) as err:
        backend.find_event(CalendarTarget(outsider), "uid")
    assert outsider in err.value.message
    assert "RBAC for Applications" in err.value.message
    assert backend.mailbox_access(outsider).can_write is False


def test_an_on_premises_mailbox_is_said_to_be_reached_over_ews(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "onprem")
    sim.store.mailbox(owner).on_premises = True
    with pytest.raises(MailboxOnPremises) as err:
        backend.discover(owner)
    assert err.value.code == "mailbox_on_premises"
    assert owner in err.value.message and "EWS" in err.value.message


def test_a_wrong_client_secret_fails_sign_in_without_echoing_it(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    conn = app_only(sim, idp, app, secret="wrong-secret-value-123")
    with pytest.raises(AuthenticationFailed) as err:
        GraphBackend(conn).verify()
    assert "wrong-secret-value-123" not in f"{err.value.message} {err.value.detail}"


def test_a_secret_revoked_after_sign_in_fails_once_the_token_is_refused(
    sim: Simulator, idp: IdentityProvider, app: App, backend: GraphBackend
) -> None:
    backend.verify()
    idp.set_client_secret(app.client_id, "rotated-elsewhere")
    idp.expire_tokens()  # the cached token is refused: a fresh one is asked for, and refused
    with pytest.raises(AuthenticationFailed):
        backend.verify()


def test_throttling_is_raised_with_graphs_retry_after(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "busy")
    backend.verify()
    sim.throttle(count=1, back_off_ms=3000)
    with pytest.raises(Throttled) as err:
        backend.busy([CalendarTarget(owner)], MONDAY, MONDAY + timedelta(days=1))
    assert err.value.back_off == 3


# --- writes ---------------------------------------------------------------------------


def test_an_event_is_created_found_moved_and_deleted_twice(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "writer")
    target = CalendarTarget(owner)
    booking = event()
    item_id = backend.create_event(target, booking)
    assert backend.find_event(target, booking.uid) == item_id
    assert backend.find_event(target, "another-uid") is None
    assert backend.event_times(target, [item_id]) == {item_id: (booking.start, booking.end)}
    (stored,) = sim.events(owner)
    assert stored.subject == booking.subject and stored.status == "Busy"

    moved = event(
        booking.uid, start=booking.start + timedelta(days=1), end=booking.end + timedelta(days=1)
    )
    assert backend.update_event(target, item_id, moved) == item_id
    assert backend.event_times(target, [item_id]) == {item_id: (moved.start, moved.end)}

    backend.delete_event(target, item_id)
    backend.delete_event(target, item_id)  # already gone: not an error
    assert backend.event_times(target, [item_id]) == {item_id: None}
    assert backend.find_event(target, booking.uid) is None
    with pytest.raises(ItemNotFound):
        backend.update_event(target, item_id, moved)


def test_a_retried_create_finds_the_event_instead_of_making_a_twin(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "retry")
    sim.add_calendar(owner, "Clinic")
    folder = folder_id(backend, owner, "Clinic")
    for target in (CalendarTarget(owner), CalendarTarget(owner, folder)):
        booking = event()
        first = backend.create_event(target, booking)
        assert backend.create_event(target, booking) == first  # the same transactionId
        assert backend.find_event(target, booking.uid) == first
    assert len(sim.events(owner)) == 1
    assert len(sim.events(owner, "Clinic")) == 1


def test_an_event_written_over_ews_is_found_over_graph(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "both")
    at = MONDAY + timedelta(hours=9)
    sim.add_event(
        owner,
        at,
        at + timedelta(hours=1),
        extended_properties={"ExchangeSchedulerBookingUid": "u-1"},
    )
    assert backend.find_event(CalendarTarget(owner), "u-1") is not None


def test_an_invited_customer_with_a_teams_meeting_gets_a_join_link(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "teams")
    target = CalendarTarget(owner)
    item_id = backend.create_event(
        target, event(invite_email="ann@example.org", online_meeting=True)
    )
    url = backend.join_url(target, item_id)
    assert url and url.startswith("https://")
    plain = backend.create_event(target, event())
    assert backend.join_url(target, plain) is None


# --- change tracking ------------------------------------------------------------------


def test_changes_hear_of_new_moved_and_deleted_events_and_a_lost_state(
    sim: Simulator, backend: GraphBackend
) -> None:
    owner = mailbox(sim, "sync")
    target = CalendarTarget(owner)
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    kept = backend.create_event(target, event(start=soon, end=soon + timedelta(hours=1)))
    first = backend.changes(target, "")
    assert kept in first.changed_ids and not first.deleted_ids
    assert backend.changes(target, first.state).any is False

    added = backend.create_event(target, event(start=soon, end=soon + timedelta(hours=2)))
    backend.delete_event(target, kept)
    later = backend.changes(target, first.state)
    assert added in later.changed_ids
    assert kept in later.deleted_ids

    with pytest.raises(SyncStateLost):
        backend.changes(target, first.state.replace("deltatoken=", "deltatoken=x"))
    with pytest.raises(SyncStateLost):
        backend.changes(target, "H4sIAAAAAAAEAO29B2AcSZY")  # an EWS SyncState


def test_a_token_graph_refuses_is_replaced_once_and_the_call_goes_through(
    sim: Simulator, idp: IdentityProvider, backend: GraphBackend
) -> None:
    backend.verify()
    idp.expire_tokens()  # msal's cached token is no longer accepted: 401, then a fresh one
    backend.verify()
    assert [e.status for e in graph_calls(sim, "getPrimaryCalendar")][-2:] == [401, 200]


def test_each_call_is_in_the_sync_log_without_tokens_or_content(
    sim: Simulator, backend: GraphBackend
) -> None:
    from calendars.models import SyncLogEntry

    owner = mailbox(sim, "logged")
    backend.create_event(CalendarTarget(owner), event(subject="Secret subject"))
    backend.busy([CalendarTarget(owner)], MONDAY, MONDAY + timedelta(days=1))
    rows = {(r.operation, r.target_mailbox, r.ok) for r in SyncLogEntry.objects.all()}
    assert ("POST event", owner, True) in rows
    assert ("getSchedule", owner, True) in rows
    for row in SyncLogEntry.objects.all():
        assert "Secret subject" not in f"{row.operation} {row.outcome} {row.target_mailbox}"


# --- rotating the app registration's client secret ----------------------------------------


def test_a_rotated_client_secret_is_checked_against_graph_first_and_applies_at_once(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    from calendars import connect
    from calendars.models import CredentialRotation, RotationResult

    conn = app_only(sim, idp, app)
    assert connect.verify(conn) is None
    version = conn.credential_version

    # A secret Entra doesn't know is refused and not saved; the old one keeps working.
    with pytest.raises(AuthenticationFailed):
        connect.rotate_secret(conn, "not-the-new-secret", None)
    conn.refresh_from_db()
    assert conn.oauth_client_secret == app.secret and conn.credential_version == version
    assert connect.verify(conn) is None

    # The admin made a new secret in Entra (the old one stops at once there).
    idp.set_client_secret(app.client_id, "the-new-secret")
    rotation = connect.rotate_secret(conn, "the-new-secret", None)

    assert rotation.result == RotationResult.VERIFIED
    conn.refresh_from_db()
    assert conn.oauth_client_secret == "the-new-secret"
    assert conn.credential_version == version + 1
    # Every process compares credential versions: a copy loaded now uses the new secret.
    fresh = ExchangeConnection.objects.get(pk=conn.pk)
    assert connect.verify(fresh) is None
    results = {r.result for r in CredentialRotation.objects.filter(connection=conn)}
    assert results == {RotationResult.REJECTED, RotationResult.VERIFIED}
