"""The staff API with token auth: pages, hours, overrides, questions, calendars and roles."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from bookings.models import BookingPage

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:  # type: ignore[no-untyped-def]
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


PAGE = {
    "slug": "intro-call",
    "title": "Intro call",
    "timezone": "Europe/London",
    "duration_minutes": 30,
    "weekly_hours": [
        {"weekday": 0, "start": "09:00", "end": "12:00"},
        {"weekday": 0, "start": "13:00", "end": "17:00"},
    ],
    "overrides": [{"date": "2027-12-25", "hours": []}],
    "questions": [{"label": "Topic", "kind": "choice", "choices": ["Sales", "Support"]}],
}


def test_staff_create_a_page_with_hours_overrides_and_questions(django_user_model) -> None:
    user = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    response = client_for(user).post("/api/v1/staff/pages/", PAGE, format="json")
    assert response.status_code == 201, response.content
    page = BookingPage.objects.get(slug="intro-call")
    assert page.owner == user
    assert page.weekly_hours.count() == 2
    assert page.overrides.get().hours == []
    assert page.questions.get().choices == ["Sales", "Support"]
    assert page.blocking_statuses == ["Busy", "Tentative", "OOF", "WorkingElsewhere"]
    assert "Choose a main booking calendar" in " ".join(response.json()["problems"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"slug": "admin"}, "slug"),
        ({"weekly_hours": [{"weekday": 0, "start": "12:00", "end": "09:00"}]}, "weekly_hours"),
        (
            {
                "weekly_hours": [
                    {"weekday": 1, "start": "09:00", "end": "12:00"},
                    {"weekday": 1, "start": "11:00", "end": "13:00"},
                ]
            },
            "weekly_hours",
        ),
        ({"overrides": [{"date": "2027-12-25", "hours": [["10:00"]]}]}, "overrides"),
        ({"questions": [{"label": "Topic", "kind": "choice", "choices": []}]}, "questions"),
        ({"blocking_statuses": ["Busy", "Sleeping"]}, "blocking_statuses"),
        ({"duration_minutes": 0}, "duration_minutes"),
    ],
)
def test_bad_pages_are_refused_with_field_errors(django_user_model, change, field) -> None:
    user = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    response = client_for(user).post("/api/v1/staff/pages/", {**PAGE, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not BookingPage.objects.exists()


def test_staff_see_and_change_only_their_own_pages(django_user_model) -> None:
    olivia = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    peter = django_user_model.objects.create_user("peter", "p@contoso.example", "x")
    root = django_user_model.objects.create_superuser("root", "r@contoso.example", "x")
    page_id = client_for(olivia).post("/api/v1/staff/pages/", PAGE, format="json").json()["id"]
    intruder = client_for(peter)
    assert intruder.get("/api/v1/staff/pages/").json() == []
    assert intruder.get(f"/api/v1/staff/pages/{page_id}/").status_code == 404
    assert intruder.patch(f"/api/v1/staff/pages/{page_id}/", {"title": "x"}).status_code == 404
    assert intruder.delete(f"/api/v1/staff/pages/{page_id}/").status_code == 404
    assert intruder.get(f"/api/v1/staff/pages/{page_id}/calendars/").status_code == 404
    assert client_for(root).get(f"/api/v1/staff/pages/{page_id}/").status_code == 200
    assert APIClient().get("/api/v1/staff/pages/").status_code == 401


def test_calendars_are_discovered_and_roles_validated_through_the_api(world) -> None:
    owner = world.staff("olivia")
    colleague = world.person("peter")  # free/busy only
    client = client_for(owner)
    page_id = client.post(
        "/api/v1/staff/pages/", {**PAGE, "slug": f"p-{world.tag}"}, format="json"
    ).json()["id"]

    response = client.post(f"/api/v1/staff/pages/{page_id}/owners/", {"email": owner.email})
    assert response.status_code == 200, response.content
    response = client.post(f"/api/v1/staff/pages/{page_id}/owners/", {"email": colleague.email})
    owners = {o["email"]: o["calendars"] for o in response.json()["owners"]}
    mine = owners[owner.email][0]
    theirs = owners[colleague.email][0]
    assert mine["allowed_roles"] == ["main", "busy", "additional"]
    assert theirs["allowed_roles"] == ["busy"]
    assert theirs["permission_level"] == "FreeBusyTimeOnly"

    refused = client.put(
        f"/api/v1/staff/pages/{page_id}/roles/",
        {"roles": {str(theirs["id"]): "main"}},
        format="json",
    )
    assert refused.status_code == 400
    assert "Editor or Delegate" in refused.json()["errors"][str(theirs["id"])][0]

    ok = client.put(
        f"/api/v1/staff/pages/{page_id}/roles/",
        {"roles": {str(mine["id"]): "main", str(theirs["id"]): "busy"}},
        format="json",
    )
    assert ok.status_code == 200, ok.content
    page = BookingPage.objects.get(pk=page_id)
    assert page.main_calendar().calendar.owner_email == owner.email
    assert page.setup_problems() == []

    missing = client.post(
        f"/api/v1/staff/pages/{page_id}/owners/", {"email": "nobody@contoso.example"}
    )
    assert missing.status_code == 400
    assert "nobody@contoso.example" in missing.json()["detail"]


def test_a_page_with_bookings_cannot_be_deleted(world) -> None:
    from datetime import UTC, datetime, timedelta

    from bookings.models import Booking

    owner = world.staff("olivia")
    page = world.page(owner)
    start = datetime.now(UTC) + timedelta(days=3)
    Booking.objects.create(
        page=page,
        owner=owner,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="UTC",
        name="Ann",
        email="ann@example.com",
    )
    response = client_for(owner).delete(f"/api/v1/staff/pages/{page.pk}/")
    assert response.status_code == 409
    assert BookingPage.objects.filter(pk=page.pk).exists()


def test_the_openapi_schema_is_served(client) -> None:
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/pages/{slug}/slots" in response.content
    assert b"/api/v1/staff/pages/" in response.content


# --- bad input is a 400, never a 500 (cases found by tests/test_api_fuzz.py and review) ----


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weekly_hours": [{"start": "09:00", "end": "12:00"}]}, "weekly_hours"),
        ({"overrides": [{"hours": []}]}, "overrides"),
        ({"questions": [{"kind": "short"}]}, "questions"),
    ],
)
def test_a_patch_refuses_rows_of_nested_lists_with_fields_missing(
    django_user_model, change, field
) -> None:
    # A PATCH may leave out the page's fields, not a row's: a list given replaces the old one.
    user = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    client = client_for(user)
    page_id = client.post("/api/v1/staff/pages/", PAGE, format="json").json()["id"]
    response = client.patch(f"/api/v1/staff/pages/{page_id}/", change, format="json")
    assert response.status_code == 400
    assert field in response.json()
    page = BookingPage.objects.get(pk=page_id)
    assert page.weekly_hours.count() == 2 and page.overrides.count() == 1
    assert page.questions.count() == 1


def test_question_options_with_a_nul_character_are_refused(django_user_model) -> None:
    # PostgreSQL's jsonb can't store one; SQLite would have taken it.
    user = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    questions = [{"label": "Topic", "kind": "choice", "choices": ["Sales", "Sup\x00port"]}]
    response = client_for(user).post(
        "/api/v1/staff/pages/", {**PAGE, "questions": questions}, format="json"
    )
    assert response.status_code == 400
    assert "questions" in response.json()
    assert not BookingPage.objects.exists()


@pytest.mark.parametrize("action", ["owners", "roles"])
def test_a_body_that_is_not_an_object_is_a_400(django_user_model, action: str) -> None:
    user = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    client = client_for(user)
    page_id = client.post("/api/v1/staff/pages/", PAGE, format="json").json()["id"]
    send = client.post if action == "owners" else client.put
    response = send(f"/api/v1/staff/pages/{page_id}/{action}/", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_calendar_id_in_other_digits_is_no_such_calendar(django_user_model) -> None:
    user = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    client = client_for(user)
    page_id = client.post("/api/v1/staff/pages/", PAGE, format="json").json()["id"]
    response = client.put(  # "²".isdigit() is true, and int("²") an error
        f"/api/v1/staff/pages/{page_id}/roles/", {"roles": {"²": "main"}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"²": ["No such calendar on this page."]}


def test_a_role_that_is_not_text_is_an_unknown_role(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner)
    calendar = page.main_calendar().calendar
    response = client_for(owner).put(
        f"/api/v1/staff/pages/{page.pk}/roles/",
        {"roles": {str(calendar.pk): ["main"]}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {str(calendar.pk): ["Unknown role ['main']."]}
    assert page.main_calendar().calendar == calendar


@pytest.mark.parametrize("hours", [[["09:00+05:00", "12:00"]], [["0900", "1200"]]])
def test_override_hours_are_taken_only_as_hh_mm(django_user_model, hours) -> None:
    # time.fromisoformat takes both; an aware 09:00+05:00 can't be compared with 12:00.
    user = django_user_model.objects.create_user("olivia", "o@contoso.example", "x")
    overrides = [{"date": "2027-12-24", "hours": hours}]
    response = client_for(user).post(
        "/api/v1/staff/pages/", {**PAGE, "overrides": overrides}, format="json"
    )
    assert response.status_code == 400
    assert "overrides" in response.json()
    assert not BookingPage.objects.exists()
