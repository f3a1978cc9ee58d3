"""An address Exchange has no mailbox for, as Exchange answers it in each operation the app
can ask: ResolveNames (ErrorNameResolutionNoResults, "No results were found.", as in
Microsoft's ResolveNames operation reference), GetUserAvailability (a per-mailbox
ErrorMailRecipientNotFound, in Exchange's wording) and GetFolder on the mailbox's calendar
(ErrorNonExistentMailbox). The same for a mistyped colleague and an address outside the
organisation: the app refuses both when a page's calendar owner is added."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from exchangelib import DELEGATE, Account
from exchangelib.errors import (
    ErrorMailRecipientNotFound,
    ErrorNameResolutionNoResults,
    ErrorNonExistentMailbox,
)
from exchangelib.ewsdatetime import UTC as EWS_UTC

UNKNOWN = ["dave-nobody@contoso.example", "someone@gmail.com"]


@pytest.mark.parametrize("address", UNKNOWN)
def test_resolve_names_finds_no_one(sim, new_user, login, address: str) -> None:
    account = login(new_user("svc"))
    (answer,) = account.protocol.resolve_names([address])
    assert isinstance(answer, ErrorNameResolutionNoResults)
    assert str(answer) == "No results were found."


def test_resolve_names_finds_a_colleague_by_address(sim, new_user, login) -> None:
    alice = new_user("alice")
    (found,) = login(new_user("svc")).protocol.resolve_names([alice.email])
    assert found.email_address == alice.email


@pytest.mark.parametrize("address", UNKNOWN)
def test_free_busy_says_the_recipient_is_not_found_in_exchanges_words(
    sim, new_user, login, address: str
) -> None:
    account = login(new_user("svc"))
    start = datetime(2025, 3, 25, tzinfo=UTC).astimezone(EWS_UTC)
    (answer,) = account.protocol.get_free_busy_info(
        [(address, "Required", False)], start, start + timedelta(days=1)
    )
    assert isinstance(answer, ErrorMailRecipientNotFound)
    assert str(answer) == (
        "Microsoft.Exchange.InfoWorker.Common.Availability.MailRecipientNotFoundException: "
        f"Unable to resolve e-mail address {address} to an Active Directory object."
    )


@pytest.mark.parametrize("address", UNKNOWN)
def test_opening_the_calendar_of_no_mailbox_is_a_non_existent_mailbox(
    sim, new_user, login, address: str
) -> None:
    svc = login(new_user("svc"))
    other = Account(address, config=svc.protocol.config, autodiscover=False, access_type=DELEGATE)
    with pytest.raises(ErrorNonExistentMailbox):
        _ = other.calendar
