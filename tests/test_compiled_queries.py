"""Querysets compiled once and run again with new values (scheduler_site.compiled): the rows
are the queryset's, read afresh on every call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from calendars.connect import connection_for
from scheduler_site.compiled import Compiled

pytestmark = pytest.mark.django_db


def test_each_call_reads_the_rows_for_its_own_values() -> None:
    by_name = Compiled(User, lambda name: User.objects.filter(username=name)[:1], "\x00nobody")
    ada = User.objects.create(username="ada")
    User.objects.create(username="ben")

    assert by_name("ada") == [ada]
    assert [u.username for u in by_name("ben")] == ["ben"]
    assert by_name("cy") == []
    User.objects.create(username="cy")  # after the SQL was compiled
    assert [u.username for u in by_name("cy")] == ["cy"]


def test_constants_of_the_queryset_stay_in_place() -> None:
    active = Compiled(
        User, lambda name: User.objects.filter(username=name, is_active=True), "\x00nobody"
    )
    User.objects.create(username="ada", is_active=False)
    assert active("ada") == []
    User.objects.filter(username="ada").update(is_active=True)
    assert [u.username for u in active("ada")] == ["ada"]


def test_it_refuses_a_queryset_that_joins_another_models_columns() -> None:
    from bookings.models import BookingPage

    joined = Compiled(
        BookingPage, lambda slug: BookingPage.objects.select_related("owner").filter(slug=slug), "x"
    )
    with pytest.raises(ValueError, match="own model's columns"):
        joined("a-page")


def test_it_refuses_a_marker_the_sql_does_not_take() -> None:
    unused = Compiled(User, lambda name: User.objects.all(), "\x00nobody")
    with pytest.raises(ValueError, match="every marker"):
        unused("ada")


def test_the_owners_connection_is_read_afresh_on_every_call(world) -> None:
    olivia = world.staff("olivia")
    connection = connection_for(olivia)
    assert connection is not None
    assert connection_for(olivia.pk) == connection
    # A rotation elsewhere (another process, the admin) is seen by the next call.
    connection.password = "a-new-password"
    connection.save()
    again = connection_for(olivia.pk)
    assert again is not None and again.password == "a-new-password"
    connection.delete()
    assert connection_for(olivia.pk) is None
