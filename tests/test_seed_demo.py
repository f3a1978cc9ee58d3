"""`manage.py seed_demo` (what `make run` runs each time): idempotent, also against a
simulator started again, whose calendars all have new ids. With the identity provider
configured (as `make run` does) it also connects Megan, in Exchange Online, with Microsoft."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.urls import reverse

from bookings.models import BookingPage
from calendars.models import CalendarRole, ExchangeConnection, Protocol
from calendars.simulator import Simulator
from calendars.simulator.cli import DEMO_SEED
from calendars.simulator.idp import IdentityProvider
from calendars.simulator.tls import TestCA
from tests.simulator.conftest import make_simulator

pytestmark = pytest.mark.django_db

CLIENT_ID = "d3m0-5173-4000-8000-00000000d3m0"
CLIENT_SECRET = "demo-site-app-secret"


def seed(sim: Simulator) -> str:
    out = io.StringIO()
    call_command("seed_demo", ews_url=sim.ews_url, stdout=out)
    return out.getvalue()


def assert_ready(slugs: list[str]) -> None:
    pages = list(BookingPage.objects.order_by("slug"))
    assert [p.slug for p in pages] == slugs
    for page in pages:
        mains = page.page_calendars.filter(role=CalendarRole.MAIN)
        # A team page's members have one main booking calendar each: Alice and Bob.
        assert mains.count() == (2 if page.is_team else 1)
        assert page.setup_problems() == [], page.slug


@contextmanager
def hybrid_demo(settings) -> Iterator[Simulator]:  # type: ignore[no-untyped-def]
    """What `make run` starts: the demo seed in a simulator with an identity provider, the
    site's app registered, and the app's settings pointing at both."""
    redirect_uri = settings.SITE_URL + reverse("connection-microsoft-callback")
    with TestCA() as ca, IdentityProvider(ca=ca) as idp:
        idp.register_application(CLIENT_ID, CLIENT_SECRET, redirect_uris=[redirect_uri])
        with make_simulator(identity_provider=idp) as sim:
            sim.load_seed(DEMO_SEED)
            settings.MICROSOFT_CLIENT_ID = CLIENT_ID
            settings.MICROSOFT_CLIENT_SECRET = CLIENT_SECRET
            settings.MICROSOFT_AUTHORITY = idp.authority
            settings.MICROSOFT_GRAPH_URL = sim.graph_url
            settings.EXCHANGE_CA_BUNDLE = str(idp.ca_cert_path)
            yield sim


def test_seeding_the_demo_again_against_a_restarted_simulator_leaves_working_pages(
    exchange_settings, settings
) -> None:
    settings.MICROSOFT_CLIENT_ID = ""  # no identity provider: Megan is left out, plainly
    for _ in range(2):  # `make run`, stopped, then `make run` again: a new simulator
        with make_simulator() as sim:
            sim.load_seed(DEMO_SEED)
            out = seed(sim)
            assert "Skipping Megan" in out
            assert_ready(["advice", "consultation", "intro-call", "project-review"])


def test_the_hybrid_demo_connects_megan_with_microsoft_and_her_page_makes_teams_meetings(
    exchange_settings, settings
) -> None:
    connections = []
    for _ in range(2):  # a restarted simulator: a new identity provider, so a new sign-in
        with hybrid_demo(settings) as sim:
            out = seed(sim)
            assert "Corporate connection booking-sync@contoso.example" in out
            assert "works." in out.splitlines()[0]  # on-premises, over EWS, as before
            assert "Megan connected with Microsoft as megan@contoso.example" in out
            assert_ready(["advice", "consultation", "intro-call", "project-review", "teams-call"])
            teams = BookingPage.objects.get(slug="teams-call")
            assert teams.create_teams_meeting
            assert teams.owner.username == "megan"
            assert teams.owner.check_password("demo-megan-password")
            main = teams.page_calendars.get(role=CalendarRole.MAIN).calendar
            assert main.owner_email == "megan@contoso.example"
            assert main.connection.protocol == Protocol.GRAPH
            assert main.connection.user == teams.owner

            # Seeded again while the same simulator runs: her working connection stays.
            again = seed(sim)
            assert "Megan's Microsoft 365 connection as megan@contoso.example works." in again
            assert_ready(["advice", "consultation", "intro-call", "project-review", "teams-call"])
            [conn] = ExchangeConnection.objects.filter(user=teams.owner)
            assert conn.pk == main.connection.pk
            connections.append(conn.pk)
    assert connections[0] != connections[1]
