"""The public and staff APIs fuzzed from their own OpenAPI schema (/api/v1/schema/) with
schemathesis: whatever a client sends, the answer is never a server error, and every client
error says what was wrong in JSON.

The requests go over HTTP to pytest-django's live server (in this process), which reaches
Exchange through the simulator. The page fuzzed has hours, questions and calendars, and the
path parameters name it (the fuzzer's own slugs and ids would all be 404s), so the endpoints
do real work; queries and bodies are the fuzzer's, both valid and invalid ones. Each
case the fuzzer found has a named regression test in its feature's file.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import time
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error

from bookings.models import BookingPage, Question

# Per operation, for the examples and fuzzing phases (11 operations): with the boundary
# cases below, the file takes 20-25 seconds on one core.
MAX_EXAMPLES = 20


def auth_header(user: User) -> dict[str, str]:
    """How a staff API client signs in (a knox token, sent as `Token <token>`): the one
    place to change if API tokens change."""
    _, token = AuthToken.objects.create(user=user)
    return {"Authorization": f"Token {token}"}


@dataclass
class Fuzzed:
    page: BookingPage
    headers: dict[str, str]


@pytest.fixture
def fuzzed(world, live_server, settings) -> Fuzzed:  # type: ignore[no-untyped-def]
    # With live_server the database is transactional: the world is committed, so the
    # server's thread sees it on PostgreSQL too.
    # Rate limits would turn most requests into 429s before they reach the code under test.
    settings.BOOKING_RATE_LIMIT = settings.SLOTS_RATE_LIMIT = 10**6
    settings.SLOTS_PAGE_RATE_LIMIT = 10**6
    owner = world.staff("olivia")
    world.sub_calendar(owner.email, "Team", "Reviewer")
    page = world.page(
        owner,
        tz="Europe/London",
        hours=(time(0), time(0)),
        weekdays=range(7),
        roles={owner.email: "main", f"{owner.email}/Team": "busy"},
        ask_phone=True,
    )
    Question.objects.create(page=page, label="Topic", kind="choice", choices=["A", "B"])
    Question.objects.create(page=page, label="Company", required=True)
    return Fuzzed(page=page, headers=auth_header(owner))


def _openapi() -> dict[str, Any]:
    """The schema /api/v1/schema/ serves, generated the same way (as JSON, like a client
    reads it). schemathesis needs it when pytest collects the tests, before any server runs;
    test_the_fuzzed_schema_is_the_one_the_server_serves keeps the two the same."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


# Random requests, valid and invalid, bounded by max_examples.
fuzzing = schemathesis.openapi.from_dict(_openapi())
fuzzing.config.phases.update(phases=["examples", "fuzzing"])

# schemathesis's coverage phase: deterministic boundary and wrong-type requests (a list
# where an object belongs, which random fuzzing missed). Invalid ones only, and not for the
# page's create/update operations, whose ~640 cases each would triple the file's time;
# random fuzzing covers those.
boundaries = (
    schemathesis.openapi.from_dict(_openapi())
    .exclude(path="/api/v1/staff/pages/", method="POST")
    .exclude(path="/api/v1/staff/pages/{id}/", method=["PUT", "PATCH"])
)
boundaries.config.phases.update(phases=["coverage"])
boundaries.config.phases.coverage.generation.modes = [schemathesis.GenerationMode.NEGATIVE]
boundaries.config.phases.coverage.unexpected_methods = set()

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@schemathesis.check
def client_errors_are_json(ctx, response, case) -> None:  # type: ignore[no-untyped-def]
    """A 4xx tells the client what was wrong, in JSON (never an HTML error page)."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), (response.status_code, content_type)
        assert isinstance(response.json(), dict), response.text[:200]


@fuzzing.parametrize()
@FUZZ_SETTINGS
def test_no_request_is_a_server_error_and_every_client_error_is_json(
    case, fuzzed, live_server
) -> None:  # type: ignore[no-untyped-def]
    call(case, fuzzed, live_server.url)


@boundaries.parametrize()
@FUZZ_SETTINGS
def test_no_boundary_request_is_a_server_error_and_every_client_error_is_json(
    case, fuzzed, live_server
) -> None:  # type: ignore[no-untyped-def]
    call(case, fuzzed, live_server.url)


def call(case: schemathesis.Case, fuzzed: Fuzzed, base_url: str) -> None:
    """Send the case to the fuzzed page (the fuzzer's own slugs and ids would be 404s), as
    its owner for the staff API, and check the answer."""
    page = BookingPage.objects.filter(pk=fuzzed.page.pk).first()
    if "slug" in case.path_parameters and page is not None:
        case.path_parameters["slug"] = page.slug  # a PATCH may have changed it
    headers = {}
    if case.operation.path.startswith("/api/v1/staff/"):
        headers = fuzzed.headers
        if "id" in case.path_parameters:
            if case.method == "DELETE":
                # Deleting the fuzzed page would leave the other operations nothing to do.
                spare = BookingPage.objects.create(owner=fuzzed.page.owner, slug=_spare_slug())
                case.path_parameters["id"] = spare.pk
            else:
                case.path_parameters["id"] = fuzzed.page.pk
        if "page_pk" in case.path_parameters:  # a page's members
            case.path_parameters["page_pk"] = fuzzed.page.pk
    case.call_and_validate(
        base_url=base_url,
        headers=headers,
        checks=[not_a_server_error, client_errors_are_json],
    )


def _spare_slug() -> str:
    return f"spare-{uuid.uuid4().hex[:10]}"


def test_the_fuzzed_schema_is_the_one_the_server_serves(db) -> None:  # type: ignore[no-untyped-def]
    served = Client().get("/api/v1/schema/", {"format": "json"})
    assert served.status_code == 200
    assert served.json() == _openapi()
