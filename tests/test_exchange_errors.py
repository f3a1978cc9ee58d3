"""What the product makes of Exchange's error answers: an error Exchange *answered* is never
called "could not be reached", and only errors that pass are retried as transient."""

from __future__ import annotations

import pytest
from exchangelib import errors as ews_errors

from calendars.errors import translate


def test_a_stale_change_key_is_a_conflict_worth_retrying() -> None:
    error = translate(ews_errors.ErrorIrresolvableConflict("change key does not match"))
    assert (error.code, error.transient) == ("conflict", True)
    assert "changed in Exchange" in error.message


@pytest.mark.parametrize(
    "cause", [ews_errors.ErrorInternalServerTransientError, ews_errors.ErrorMailboxStoreUnavailable]
)
def test_a_busy_or_moving_mailbox_is_unavailable_for_now(cause: type[Exception]) -> None:
    error = translate(cause("try later"))
    assert (error.code, error.transient) == ("unavailable", True)


@pytest.mark.parametrize(
    "cause", [ews_errors.ErrorInvalidIdMalformed, ews_errors.ErrorCalendarViewRangeTooBig]
)
def test_any_other_answer_names_exchanges_error_instead_of_blaming_the_network(
    cause: type[Exception],
) -> None:
    error = translate(cause("details"))
    assert error.code == "exchange_error" and not error.transient
    assert cause.__name__ in error.message
    assert "could not be reached" not in error.message
