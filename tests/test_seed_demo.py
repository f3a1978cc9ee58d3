"""`manage.py seed_demo` (what `make run` runs each time): idempotent, also against a
simulator started again, whose calendars all have new ids."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from bookings.models import BookingPage
from calendars.models import CalendarRole
from calendars.simulator.cli import DEMO_SEED
from tests.simulator.conftest import make_simulator

pytestmark = pytest.mark.django_db


def test_seeding_the_demo_again_against_a_restarted_simulator_leaves_working_pages(
    exchange_settings,
) -> None:
    for _ in range(2):  # `make run`, stopped, then `make run` again: a new simulator
        with make_simulator() as sim:
            sim.load_seed(DEMO_SEED)
            call_command("seed_demo", ews_url=sim.ews_url, stdout=io.StringIO())
            pages = list(BookingPage.objects.order_by("slug"))
            assert [p.slug for p in pages] == ["consultation", "intro-call"]
            for page in pages:
                mains = page.page_calendars.filter(role=CalendarRole.MAIN)
                assert mains.count() == 1
                assert page.setup_problems() == []
