"""A permission withdrawn in Exchange shows on the page, with what broke and why."""

from __future__ import annotations

import pytest

from bookings.tasks import recheck_page_calendars

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


def test_a_main_calendar_downgraded_to_reviewer_is_reported(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner)
    assert page.setup_problems() == []
    world.sim.set_permission(owner.email, world.corporate().email, "Reviewer")
    assert recheck_page_calendars() == 1
    problems = page.setup_problems()
    assert len(problems) == 1
    assert "may no longer create events" in problems[0]
    assert "Editor or Delegate" in problems[0]


def test_a_busy_calendar_no_longer_shared_at_all_is_reported(world) -> None:
    owner = world.staff("olivia")
    colleague = world.staff("peter")
    world.sub_calendar(colleague.email, "Field work", "Reviewer")
    page = world.page(owner, roles={owner.email: "main", f"{colleague.email}/Field work": "busy"})
    world.sim.remove_permission(colleague.email, world.corporate().email, calendar="Field work")
    recheck_page_calendars()
    problems = page.setup_problems()
    assert any("Field work" in p and "No longer shared" in p for p in problems)
