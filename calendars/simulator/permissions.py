"""Exchange calendar folder permissions: the levels, what each allows, and how they show up
on the wire (CalendarPermission, EffectiveRights, SharingEffectiveRights).

The table follows Exchange's documented CalendarPermissionLevel definitions. "Delegate" is not
an EWS level: Exchange stores a delegate as Editor on the calendar plus a delegate flag, so it
reports "Editor" on the wire and additionally lets the delegate see private items.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT = "default"  # the grantee for everybody in the organisation
ANONYMOUS = "anonymous"  # the grantee for unauthenticated / external users


class Level(enum.Enum):
    NONE = "None"
    FREE_BUSY_TIME_ONLY = "FreeBusyTimeOnly"
    FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION = "FreeBusyTimeAndSubjectAndLocation"
    REVIEWER = "Reviewer"
    CONTRIBUTOR = "Contributor"
    NONEDITING_AUTHOR = "NoneditingAuthor"
    AUTHOR = "Author"
    PUBLISHING_AUTHOR = "PublishingAuthor"
    EDITOR = "Editor"
    PUBLISHING_EDITOR = "PublishingEditor"
    OWNER = "Owner"
    DELEGATE = "Delegate"

    @classmethod
    def parse(cls, value: str | Level) -> Level:
        if isinstance(value, Level):
            return value
        for level in cls:
            if level.value.lower() == value.lower():
                return level
        raise ValueError(f"unknown permission level {value!r}")

    @property
    def wire_name(self) -> str:
        """The CalendarPermissionLevel Exchange reports for this level."""
        return "Editor" if self is Level.DELEGATE else self.value


@dataclass(frozen=True)
class Rights:
    can_create_items: bool = False
    can_create_subfolders: bool = False
    is_folder_owner: bool = False
    is_folder_visible: bool = False
    is_folder_contact: bool = False
    edit_items: str = "None"  # None / Owned / All
    delete_items: str = "None"
    read_items: str = "None"  # None / TimeOnly / TimeAndSubjectAndLocation / FullDetails
    # What Exchange Server does with it: only the availability service (free/busy details)
    # hides a private item's subject and location from callers without it. FindItem and
    # GetItem return private items in full to anyone who may read the folder (Reviewer and
    # up): the Private flag is for clients (Outlook, OWA) to honour, as Microsoft's "Make an
    # appointment private" note warns. (Microsoft Graph on Exchange Online instead answers
    # "not found" for private events to callers without FullAccess or delegate private
    # access; this simulator models Exchange Server 2016/2019.)
    view_private_items: bool = False


_FULL = "FullDetails"
RIGHTS: dict[Level, Rights] = {
    Level.NONE: Rights(),
    Level.FREE_BUSY_TIME_ONLY: Rights(read_items="TimeOnly"),
    Level.FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION: Rights(read_items="TimeAndSubjectAndLocation"),
    Level.REVIEWER: Rights(is_folder_visible=True, read_items=_FULL),
    Level.CONTRIBUTOR: Rights(can_create_items=True, is_folder_visible=True),
    Level.NONEDITING_AUTHOR: Rights(
        can_create_items=True, is_folder_visible=True, delete_items="Owned", read_items=_FULL
    ),
    Level.AUTHOR: Rights(
        can_create_items=True,
        is_folder_visible=True,
        edit_items="Owned",
        delete_items="Owned",
        read_items=_FULL,
    ),
    Level.PUBLISHING_AUTHOR: Rights(
        can_create_items=True,
        can_create_subfolders=True,
        is_folder_visible=True,
        edit_items="Owned",
        delete_items="Owned",
        read_items=_FULL,
    ),
    Level.EDITOR: Rights(
        can_create_items=True,
        is_folder_visible=True,
        edit_items="All",
        delete_items="All",
        read_items=_FULL,
    ),
    Level.PUBLISHING_EDITOR: Rights(
        can_create_items=True,
        can_create_subfolders=True,
        is_folder_visible=True,
        edit_items="All",
        delete_items="All",
        read_items=_FULL,
    ),
    Level.OWNER: Rights(
        can_create_items=True,
        can_create_subfolders=True,
        is_folder_owner=True,
        is_folder_visible=True,
        is_folder_contact=True,
        edit_items="All",
        delete_items="All",
        read_items=_FULL,
        view_private_items=True,
    ),
    Level.DELEGATE: Rights(
        can_create_items=True,
        is_folder_visible=True,
        edit_items="All",
        delete_items="All",
        read_items=_FULL,
        view_private_items=True,
    ),
}


def level_for(permissions: dict[str, Level], owner: str, caller: str) -> Level:
    """The level `caller` (lower-case smtp) holds on a folder owned by `owner`.

    An explicit entry for the user wins over Default, as in Exchange.
    """
    if caller == owner:
        return Level.OWNER
    if caller in permissions:
        return permissions[caller]
    return permissions.get(DEFAULT, Level.NONE)


def rights_for(permissions: dict[str, Level], owner: str, caller: str) -> Rights:
    return RIGHTS[level_for(permissions, owner, caller)]


@dataclass(frozen=True)
class EffectiveRights:
    """The folder-level rights Exchange reports in EffectiveRights, in schema order."""

    create_associated: bool
    create_contents: bool
    create_hierarchy: bool
    delete: bool
    modify: bool
    read: bool
    view_private_items: bool


def effective_rights(rights: Rights) -> EffectiveRights:
    # Delete and Modify are about the folder itself (rename, move, delete), which only the
    # folder owner may do; CreateAssociated covers hidden items such as calendar config.
    return EffectiveRights(
        create_associated=rights.can_create_items,
        create_contents=rights.can_create_items,
        create_hierarchy=rights.can_create_subfolders,
        delete=rights.is_folder_owner,
        modify=rights.is_folder_owner,
        read=rights.read_items == _FULL,
        view_private_items=rights.view_private_items,
    )


def may_edit(rights: Rights, caller: str, creator: str) -> bool:
    return rights.edit_items == "All" or (rights.edit_items == "Owned" and caller == creator)


def may_delete(rights: Rights, caller: str, creator: str) -> bool:
    return rights.delete_items == "All" or (rights.delete_items == "Owned" and caller == creator)
