"""GetDelegate: a mailbox's delegate list, read through exchangelib as Exchange answers it.

Who may read it (Exchange 2016/2019): the owner, an account with FullAccess on the mailbox,
or a service impersonating the owner. A delegate with folder permissions only is refused
with ErrorItemNotFound ("The specified object was not found in the store."), though it
still opens the calendar it was shared.
"""

from __future__ import annotations

import pytest
from exchangelib import IMPERSONATION
from exchangelib.errors import ErrorDelegateNoUser, ErrorItemNotFound, ErrorNotDelegate
from exchangelib.services import GetDelegate

from .conftest import connect


def _levels(delegates):
    return {
        d.user_id.primary_smtp_address: d.delegate_permissions.calendar_folder_permission_level
        for d in delegates
    }


def test_the_owner_reads_each_delegate_with_its_calendar_permission(sim, login, new_user):
    owner, assistant, booking = new_user("owner"), new_user("assistant"), new_user("booking")
    sim.add_delegate(owner.email, assistant.email, level="Reviewer", view_private_items=False)
    sim.add_delegate(owner.email, booking.email, receive_copies=True)

    delegates = login(owner).delegates

    assert _levels(delegates) == {assistant.email: "Reviewer", booking.email: "Editor"}
    by_address = {d.user_id.primary_smtp_address: d for d in delegates}
    assert by_address[booking.email].user_id.display_name == booking.name
    assert by_address[booking.email].user_id.sid.startswith("S-1-5-21-")
    assert by_address[booking.email].view_private_items
    assert by_address[booking.email].receive_copies_of_meeting_messages
    assert not by_address[assistant.email].view_private_items
    # Only calendars are shared here; the other delegatable folders say None.
    assert by_address[booking.email].delegate_permissions.inbox_folder_permission_level == "None"


def test_a_mailbox_without_delegates_answers_an_empty_list(sim, login, new_user):
    assert login(new_user("loner")).delegates == []


def test_granting_a_delegate_grants_its_level_on_the_calendar_folder(sim, login, new_user):
    owner, assistant = new_user("owner"), new_user("assistant")
    sim.add_delegate(owner.email, assistant.email, level="Reviewer")

    calendar = login(assistant, owner).calendar

    assert calendar.effective_rights.read
    assert not calendar.effective_rights.create_contents
    sim.remove_delegate(owner.email, assistant.email)
    assert login(owner).delegates == []
    with pytest.raises(Exception, match="Access is denied"):
        _ = login(assistant, owner).calendar


def test_a_level_changed_on_the_folder_shows_in_the_delegate_list(sim, login, new_user):
    # Exchange reads a delegate's permissions from the folders, not from the delegate list.
    owner, assistant = new_user("owner"), new_user("assistant")
    sim.add_delegate(owner.email, assistant.email)
    sim.set_permission(owner.email, assistant.email, "Reviewer")
    assert _levels(login(owner).delegates) == {assistant.email: "Reviewer"}
    sim.set_permission(owner.email, assistant.email, "PublishingEditor")
    assert _levels(login(owner).delegates) == {assistant.email: "Custom"}


def test_a_delegate_without_full_access_may_not_read_the_list(sim, login, new_user):
    owner, booking = new_user("owner"), new_user("booking")
    sim.add_delegate(owner.email, booking.email)
    account = login(booking, owner)

    with pytest.raises(ErrorItemNotFound, match="not found in the store"):
        _ = account.delegates

    assert account.calendar.effective_rights.create_contents  # delegation itself works
    assert sim.log[0].operation == "GetDelegate"
    assert sim.log[0].outcome == "ErrorItemNotFound"


def test_full_access_lets_another_account_read_the_list(sim, login, new_user):
    owner, booking = new_user("owner"), new_user("booking")
    sim.add_delegate(owner.email, booking.email)
    sim.grant_full_access(owner.email, booking.email)

    assert _levels(login(booking, owner).delegates) == {booking.email: "Editor"}

    sim.revoke_full_access(owner.email, booking.email)
    with pytest.raises(ErrorItemNotFound):
        _ = login(booking, owner).delegates


def test_full_access_opens_the_calendar_whatever_the_folder_grants(sim, login, new_user):
    owner, admin = new_user("owner"), new_user("admin")
    sim.grant_full_access(owner.email, admin.email)
    rights = login(admin, owner).calendar.effective_rights
    assert rights.read and rights.create_contents and rights.modify


def test_a_service_impersonating_the_owner_reads_the_list(sim, new_user):
    owner, booking, svc = new_user("owner"), new_user("booking"), new_user("svc")
    sim.add_delegate(owner.email, booking.email)
    sim.grant_impersonation(svc.email)
    account = connect(sim, svc.email, svc.password, mailbox=owner.email, access_type=IMPERSONATION)
    try:
        assert _levels(account.delegates) == {booking.email: "Editor"}
    finally:
        sim.revoke_impersonation(svc.email)


def test_asking_about_one_user_tells_a_delegate_from_someone_who_is_not(sim, login, new_user):
    owner, booking, stranger = new_user("owner"), new_user("booking"), new_user("stranger")
    sim.add_delegate(owner.email, booking.email, level="Author")
    account = login(owner)

    def ask(address):
        return list(GetDelegate(account=account).call(user_ids=[address], include_permissions=True))

    assert _levels(ask(booking.email)) == {booking.email: "Author"}
    with pytest.raises(ErrorNotDelegate):
        ask(stranger.email)
    with pytest.raises(ErrorDelegateNoUser):
        ask("nobody-at-all@contoso.example")


def test_without_permissions_asked_the_delegates_come_without_levels(sim, login, new_user):
    owner, booking = new_user("owner"), new_user("booking")
    sim.add_delegate(owner.email, booking.email)
    [delegate] = list(
        GetDelegate(account=login(owner)).call(user_ids=None, include_permissions=False)
    )
    assert delegate.user_id.primary_smtp_address == booking.email
    assert delegate.delegate_permissions is None


def test_an_unknown_mailbox_is_answered_as_exchange_does(sim, login, new_user):
    from exchangelib.errors import ErrorNonExistentMailbox

    me = new_user("me")
    with pytest.raises(ErrorNonExistentMailbox):
        _ = login(me, "ghost@contoso.example").delegates
