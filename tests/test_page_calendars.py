"""The associated-calendars section of a booking page, over the wire: calendar owners added
by email, their calendars discovered from the EWS simulator with each one's permission, and
roles that the permission allows, saved all together or not at all."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bookings.models import BookingPage, PageCalendar, PageCalendarOwner
from calendars.models import CalendarRef
from tests.world import World

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def new_page(owner: User) -> BookingPage:
    """A page as the editor creates it: no roles yet, the owner's own mailbox listed."""
    page = BookingPage.objects.create(owner=owner, slug=f"p-{owner.pk}", title="Consultation")
    PageCalendarOwner.objects.create(page=page, email=owner.email)
    return page


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


def ref(owner_email: str, name: str = "Calendar") -> CalendarRef:
    return CalendarRef.objects.get(owner_email=owner_email, name=name, error="")


def save_roles(client: Client, page: BookingPage, roles: dict[CalendarRef, str]):  # type: ignore[no-untyped-def]
    data = {"action": "save_roles"} | {f"role-{r.pk}": role for r, role in roles.items()}
    return client.post(f"/pages/{page.pk}/calendars/", data)


def test_the_owners_own_mailbox_comes_first_with_its_calendars_and_permission(
    world: World, client: Client
) -> None:
    alice = world.staff("alice")
    page = BookingPage.objects.create(owner=alice, slug="made-elsewhere", title="Made elsewhere")
    r = signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    assert r.status_code == 200
    assert list(page.calendar_owners.values_list("email", flat=True)) == [alice.email]
    body = text(r)
    assert f'<h2 class="owner-email">{alice.email}</h2>' in body
    # A delegate shows as Editor: delegation is Editor plus the delegate flag.
    assert (
        'Calendar <span class="muted">(primary calendar)</span></td> '
        '<td><span class="cell-label">Permission: </span>Editor</td>' in body
    )
    main = ref(alice.email)
    # Editor allows every role: none is disabled.
    row = body.split(f'name="role-{main.pk}"')[1].split("</select>")[0]
    assert "disabled" not in row


def test_an_added_owner_without_sharing_shows_free_busy_only_and_main_is_refused(
    world: World, client: Client
) -> None:
    alice = world.staff("alice")
    bob = world.person("bob")  # shares nothing: the organisation's default is free/busy
    page = new_page(alice)
    signed_in(client, alice)
    r = client.post(f"/pages/{page.pk}/calendars/", {"action": "add_owner", "email": bob.email})
    assert r.status_code == 302
    assert page.calendar_owners.filter(email=bob.email).exists()

    body = text(client.get(f"/pages/{page.pk}/calendars/"))
    bobs = ref(bob.email)
    assert bobs.permission_level == "FreeBusyTimeOnly"
    assert "Permission: </span>Free/busy time only</td>" in body
    row = body.split(f'name="role-{bobs.pk}"')[1].split("</select>")[0]
    assert '<option value="main" disabled>Main booking calendar (not allowed)</option>' in row
    assert '<option value="busy">Busy time retrieval</option>' in row
    assert "bookings need Editor or Delegate" in body
    assert "Delegate Access" in body  # how to get the permission granted

    r = save_roles(client, page, {ref(alice.email): "busy", bobs: "main"})
    assert r.status_code == 400
    assert (
        "can&#x27;t be the main booking calendar: the connection&#x27;s permission on it is "
        "Free/busy time only, and bookings need Editor or Delegate." in text(r)
    )
    assert not PageCalendar.objects.exists()


def test_busy_time_from_a_free_busy_only_calendar_is_accepted(world: World, client: Client) -> None:
    alice = world.staff("alice")
    bob = world.person("bob")
    page = new_page(alice)
    PageCalendarOwner.objects.create(page=page, email=bob.email)
    signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    r = save_roles(client, page, {ref(alice.email): "main", ref(bob.email): "busy"})
    assert r.status_code == 302
    roles = {pc.calendar.owner_email: pc.role for pc in page.page_calendars.all()}
    assert roles == {alice.email: "main", bob.email: "busy"}
    assert page.main_calendar().calendar == ref(alice.email)


def test_a_sub_calendar_is_listed_and_assigned_busy_time(world: World, client: Client) -> None:
    alice = world.staff("alice")
    carol = world.person("carol")
    corporate = world.corporate()
    world.sim.add_calendar(carol.email, "Projects")
    world.sim.set_permission(carol.email, corporate.email, "Reviewer")
    world.sim.set_permission(carol.email, corporate.email, "Reviewer", calendar="Projects")
    page = new_page(alice)
    signed_in(client, alice)
    client.post(f"/pages/{page.pk}/calendars/", {"action": "add_owner", "email": carol.email})
    body = text(client.get(f"/pages/{page.pk}/calendars/"))
    assert 'Projects <span class="muted">(sub-calendar)</span>' in body
    assert "Permission: </span>Reviewer (read only)</td>" in body
    projects = ref(carol.email, "Projects")

    r = save_roles(client, page, {ref(alice.email): "main", projects: "busy"})
    assert r.status_code == 302
    assert PageCalendar.objects.get(calendar=projects).role == "busy"
    body = text(client.get(f"/pages/{page.pk}/calendars/"))
    assert '<option value="busy" selected>' in body.split(f'name="role-{projects.pk}"')[1]


def test_an_additional_booking_calendar_needs_create_rights(world: World, client: Client) -> None:
    alice = world.staff("alice")
    carol = world.person("carol")
    world.sim.set_permission(carol.email, world.corporate().email, "Reviewer")
    page = new_page(alice)
    PageCalendarOwner.objects.create(page=page, email=carol.email)
    signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    r = save_roles(client, page, {ref(alice.email): "main", ref(carol.email): "additional"})
    assert r.status_code == 400
    body = text(r)
    assert (
        "can&#x27;t be the additional booking calendar: the connection&#x27;s permission on it "
        "is Reviewer (read only)" in body
    )
    assert "Nothing was saved" in body
    # The valid half of the form was not saved either.
    assert not PageCalendar.objects.exists()


def test_two_main_booking_calendars_are_refused(world: World, client: Client) -> None:
    alice = world.staff("alice")
    world.sim.add_calendar(alice.email, "Team")
    world.sim.set_permission(alice.email, world.corporate().email, "Editor", calendar="Team")
    page = new_page(alice)
    signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    team = ref(alice.email, "Team")
    r = save_roles(client, page, {ref(alice.email): "main", team: "main"})
    assert r.status_code == 400
    assert "Choose exactly one main booking calendar" in text(r)
    assert not PageCalendar.objects.exists()

    r = save_roles(client, page, {ref(alice.email): "main", team: "additional"})
    assert r.status_code == 302
    assert page.page_calendars.get(role="additional").calendar == team


def test_a_page_needs_a_main_booking_calendar(world: World, client: Client) -> None:
    alice = world.staff("alice")
    page = new_page(alice)
    signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    r = save_roles(client, page, {ref(alice.email): "busy"})
    assert r.status_code == 400
    assert "Choose a main booking calendar" in text(r)


def test_the_main_calendar_can_move_to_another_calendar(world: World, client: Client) -> None:
    alice = world.staff("alice")
    world.sim.add_calendar(alice.email, "Team")
    world.sim.set_permission(alice.email, world.corporate().email, "Editor", calendar="Team")
    page = world.page(alice)  # the primary calendar is the main one
    signed_in(client, alice)
    team = ref(alice.email, "Team")
    r = save_roles(client, page, {ref(alice.email): "busy", team: "main"})
    assert r.status_code == 302
    assert page.main_calendar().calendar == team


def test_an_unknown_role_is_refused(world: World, client: Client) -> None:
    alice = world.staff("alice")
    page = new_page(alice)
    signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    r = save_roles(client, page, {ref(alice.email): "owner"})
    assert r.status_code == 400
    assert "Choose one of the roles offered." in text(r)


def test_a_withdrawn_permission_shows_the_problem_after_refresh(
    world: World, client: Client
) -> None:
    alice = world.staff("alice")
    page = world.page(alice)
    signed_in(client, alice)
    assert "What needs attention" not in text(client.get(f"/pages/{page.pk}/calendars/"))

    world.sim.remove_permission(alice.email, world.corporate().email)
    r = client.post(f"/pages/{page.pk}/calendars/", {"action": "refresh"})
    assert r.status_code == 200
    body = text(r)
    assert "What needs attention" in body
    # Over EWS the calendar folder can't be opened any more (only free/busy is left, which
    # names no folder), so the row it was is gone; Graph names the primary calendar by its
    # owner alone, so the same row stays and says what it can no longer do.
    problem = (
        "Calendar is the main booking calendar but the connection may no longer create events"
        if world.graph
        else "Calendar: No longer shared with this connection."
    )
    assert f"{alice.email} / {problem}" in body
    # ...and it stays visible on every later visit, not only right after the refresh.
    assert problem in text(client.get(f"/pages/{page.pk}/calendars/"))
    assert problem in " ".join(page.setup_problems())


def test_a_downgraded_permission_explains_what_the_main_calendar_needs(
    world: World, client: Client
) -> None:
    alice = world.staff("alice")
    world.sim.add_calendar(alice.email, "Team")
    world.sim.set_permission(alice.email, world.corporate().email, "Editor", calendar="Team")
    page = world.page(alice, roles={f"{alice.email}/Team": "main"})
    signed_in(client, alice)
    world.sim.set_permission(alice.email, world.corporate().email, "Reviewer", calendar="Team")
    body = text(client.post(f"/pages/{page.pk}/calendars/", {"action": "refresh"}))
    assert (
        f"{alice.email} / Team is the main booking calendar but the connection may no longer "
        "create events in it." in body
    )
    # Saving as it is explains why the role must change.
    team = ref(alice.email, "Team")
    r = save_roles(client, page, {ref(alice.email): "", team: "main"})
    assert r.status_code == 400
    assert (
        "can&#x27;t be the main booking calendar: the connection&#x27;s permission on it is "
        "Reviewer (read only)" in text(r)
    )


def test_an_owner_can_be_removed_with_their_calendars_roles(world: World, client: Client) -> None:
    alice = world.staff("alice")
    bob = world.person("bob")
    page = world.page(alice, roles={alice.email: "main", bob.email: "busy"})
    owner = page.calendar_owners.get(email=bob.email)
    r = signed_in(client, alice).post(
        f"/pages/{page.pk}/calendars/", {"action": "remove_owner", "owner": owner.pk}
    )
    assert r.status_code == 302
    assert list(page.calendar_owners.values_list("email", flat=True)) == [alice.email]
    assert list(page.page_calendars.values_list("role", flat=True)) == ["main"]


def test_an_owner_is_added_once(world: World, client: Client) -> None:
    alice = world.staff("alice")
    page = new_page(alice)
    signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    r = client.post(
        f"/pages/{page.pk}/calendars/", {"action": "add_owner", "email": alice.email.upper()}
    )
    assert r.status_code == 400
    assert "is already on this page" in text(r)
    assert page.calendar_owners.count() == 1


def test_an_owner_must_be_an_email_address(world: World, client: Client) -> None:
    alice = world.staff("alice")
    page = new_page(alice)
    r = signed_in(client, alice).post(
        f"/pages/{page.pk}/calendars/", {"action": "add_owner", "email": "not an address"}
    )
    assert r.status_code == 400
    assert "Enter a valid email address." in text(r)


@pytest.mark.parametrize("address", ["dave-{tag}@contoso.example", "someone-{tag}@gmail.com"])
def test_an_address_without_a_mailbox_is_refused_at_add_keeping_what_was_typed(
    world: World, client: Client, address: str
) -> None:
    alice = world.staff("alice")
    page = new_page(alice)
    signed_in(client, alice)
    nobody = address.format(tag=world.tag)
    r = client.post(f"/pages/{page.pk}/calendars/", {"action": "add_owner", "email": nobody})
    assert r.status_code == 400
    body = text(r)
    assert f"There is no mailbox {nobody} in your organisation&#x27;s Exchange." in body
    assert f'value="{nobody}"' in body  # still in the field, to correct it
    assert list(page.calendar_owners.values_list("email", flat=True)) == [alice.email]
    assert not CalendarRef.objects.filter(owner_email=nobody).exists()
    assert f'<h2 class="owner-email">{nobody}</h2>' not in body


@pytest.mark.parametrize("outage", ["connection refused", "503"])
def test_an_owner_added_while_exchange_is_down_is_refused_as_unreachable_not_unknown(
    world: World, client: Client, outage: str
) -> None:
    alice = world.staff("alice")
    bob = world.person("bob")
    page = new_page(alice)
    signed_in(client, alice).get(f"/pages/{page.pk}/calendars/")
    if outage == "503":
        world.sim.fail_http(503, count=100)  # answers, but Exchange itself is down
    else:
        world.sim.go_down()
    r = client.post(f"/pages/{page.pk}/calendars/", {"action": "add_owner", "email": bob.email})
    assert r.status_code == 400
    body = text(r)
    assert f"Exchange can&#x27;t be reached right now, so {bob.email} could not be checked" in body
    assert "There is no mailbox" not in body
    assert f'value="{bob.email}"' in body
    assert not page.calendar_owners.filter(email=bob.email).exists()


def test_an_owner_whose_mailbox_went_away_is_explained_on_their_card(
    world: World, client: Client
) -> None:
    alice = world.staff("alice")
    page = new_page(alice)
    nobody = f"left-{world.tag}@contoso.example"  # added before their mailbox was removed
    PageCalendarOwner.objects.create(page=page, email=nobody)
    body = text(signed_in(client, alice).get(f"/pages/{page.pk}/calendars/"))
    section = body.split(f'<h2 class="owner-email">{nobody}</h2>')[1].split("</section>")[0]
    assert f"There is no mailbox {nobody} in your organisation&#x27;s Exchange." in section


def test_permissions_are_shown_in_words_and_each_explanation_once_per_owner(
    world: World, client: Client
) -> None:
    alice = world.staff("alice")
    carol = world.person("carol")
    bob = world.person("bob")  # shares nothing: free/busy only
    corporate = world.corporate()
    # Carol shares two calendars read-only: both are refused bookings for the same reason.
    world.sim.add_calendar(carol.email, "Projects")
    world.sim.set_permission(carol.email, corporate.email, "Reviewer")
    world.sim.set_permission(carol.email, corporate.email, "Reviewer", calendar="Projects")
    page = new_page(alice)
    for person in (carol, bob):
        PageCalendarOwner.objects.create(page=page, email=person.email)
    body = text(signed_in(client, alice).get(f"/pages/{page.pk}/calendars/"))

    for raw in ("FreeBusyTimeOnly", "FreeBusyTimeAndSubjectAndLocation", "NoneditingAuthor"):
        assert raw not in body
    assert "Permission: </span>Free/busy time only</td>" in body
    assert body.count("Permission: </span>Reviewer (read only)</td>") == 2
    for person in (carol, bob):
        card = body.split(f'<h2 class="owner-email">{person.email}</h2>')[1].split("</section>")[0]
        assert card.count("Delegate Access") == 1
        assert card.count("bookings need Editor or Delegate permission.") == 1
    # Both of Carol's rows say what is refused, briefly; the card says why and how, once.
    carols = body.split(f'<h2 class="owner-email">{carol.email}</h2>')[1].split("</section>")[0]
    assert carols.count("Busy time only (see below).") == 2


def test_every_owner_card_has_the_same_columns(world: World, client: Client) -> None:
    alice = world.staff("alice")
    bob = world.person("bob")
    page = new_page(alice)
    PageCalendarOwner.objects.create(page=page, email=bob.email)
    body = text(signed_in(client, alice).get(f"/pages/{page.pk}/calendars/"))
    columns = (
        '<colgroup><col class="col-calendar"><col class="col-permission"><col class="col-role">'
        "</colgroup>"
    )
    assert body.count(columns) == body.count('<table class="table calendar-table">') == 2


def test_exchange_being_down_is_explained_not_a_500(world: World, client: Client) -> None:
    alice = world.staff("alice")
    bob = world.person("bob")
    page = new_page(alice)
    PageCalendarOwner.objects.create(page=page, email=bob.email)
    signed_in(client, alice)
    world.sim.go_down()
    r = client.get(f"/pages/{page.pk}/calendars/")
    assert r.status_code == 200
    section = text(r).split(f'<h2 class="owner-email">{bob.email}</h2>')[1].split("</section>")[0]
    assert re.search(r'class="alert alert-warn">[^<]*(could not be reached|not answering)', section)


def test_without_a_connection_the_page_says_to_connect_first(
    exchange_settings, client: Client, django_user_model
) -> None:
    dave = django_user_model.objects.create_user("dave", "dave@contoso.example", "x")
    page = new_page(dave)
    signed_in(client, dave)
    r = client.get(f"/pages/{page.pk}/calendars/")
    assert r.status_code == 200
    assert "has no Exchange connection yet" in text(r)
    r = client.post(f"/pages/{page.pk}/calendars/", {"action": "refresh"})
    assert r.status_code == 409
    # Owners can still be listed, ready for when the connection exists.
    r = client.post(
        f"/pages/{page.pk}/calendars/", {"action": "add_owner", "email": "erin@contoso.example"}
    )
    assert r.status_code == 302
    assert page.calendar_owners.filter(email="erin@contoso.example").exists()


def test_an_unknown_action_is_a_400(world: World, client: Client) -> None:
    alice = world.staff("alice")
    page = new_page(alice)
    r = signed_in(client, alice).post(f"/pages/{page.pk}/calendars/", {"action": "explode"})
    assert r.status_code == 400
