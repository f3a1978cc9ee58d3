"""SyncFolderItems: what changed in one folder since the client's last SyncState.

Exchange answers from the folder's change numbers (ICS); its SyncState is an opaque, gzipped,
base64 blob ("H4sI...") the client hands back on the next call. The simulator's state is the
same kind of blob holding a snapshot of the folder as the client last saw it: each item's id
and a digest of its ChangeKey. The changes are the difference between that snapshot and the
folder now, so no other operation has to record anything: every change already gives an item
a new ChangeKey (CalendarItem.touch), a move gives it a new id, and a deletion removes it.

What the answer looks like, as Exchange 2016/2019 give it (learn.microsoft.com, "SyncFolderItems
operation" and "SyncFolderItemsResponseMessage"; exchangelib's services/sync_folder_items.py):
- no SyncState: every item in the folder, as a Create;
- Create, Update and Delete (only the ItemId) in `Changes`, at most MaxChangesReturned (1-512)
  per call, and IncludesLastItemInRange false while more are waiting; the SyncState returned
  covers exactly the changes returned, so the next call carries on from there;
- recurring series appear once, as their master: occurrences are not items of the folder;
- ReadFlagChange is for messages; calendar items have no read flag, so none is ever sent;
- items named in Ignore are not reported (and not reported later for the same change);
- a state that is not one this server gave for this folder: ErrorInvalidSyncStateData.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib

from lxml import etree

from ..items import Instance
from ..model import CalendarItem, Folder
from .item_xml import Shape, item_xml
from .operations import Context, require_read_items, resolve_folder
from .soap import EWSError, children, error_message, m, make, response_message, sub, t, xml_bool

MAX_CHANGES = 512  # MaxSyncChangesReturnedType in the schema
_SCOPES = ("NormalItems", "NormalAndAssociatedItems")
_STATE_VERSION = 1

Snapshot = dict[str, str]  # item id -> ChangeKey digest


def _invalid_state() -> EWSError:
    return EWSError(
        "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
    )


def _digest(change_key: str) -> str:
    # The snapshot only needs to tell "changed" from "unchanged"; 8 bytes keep states small.
    return hashlib.sha256(change_key.encode()).hexdigest()[:16]


def encode_state(folder: Folder, snapshot: Snapshot) -> str:
    data = json.dumps(
        {"v": _STATE_VERSION, "f": folder.id, "s": snapshot},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    # mtime=0: the same snapshot gives the same state, so a sync with nothing new hands the
    # client's state back unchanged (exchangelib stops paging when it sees that).
    return base64.b64encode(gzip.compress(data, mtime=0)).decode()


def decode_state(folder: Folder, text: str) -> Snapshot:
    try:
        data = json.loads(gzip.decompress(base64.b64decode(text.strip(), validate=True)))
    except (ValueError, binascii.Error, OSError, EOFError, zlib.error):
        raise _invalid_state() from None
    if (
        not isinstance(data, dict)
        or data.get("v") != _STATE_VERSION
        or data.get("f") != folder.id  # a state is only good for the folder it was made for
        or not isinstance(data.get("s"), dict)
    ):
        raise _invalid_state()
    return {str(k): str(v) for k, v in data["s"].items()}


def _max_changes(request: etree._Element) -> int:
    text = request.findtext(m("MaxChangesReturned"), "")
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_CHANGES:
        # Exchange validates the request against its schema before running it.
        raise EWSError(
            "ErrorSchemaValidation",
            f"The request failed schema validation: MaxChangesReturned '{text}' is not "
            f"between 1 and {MAX_CHANGES}.",
        )
    return value


def _ignored(request: etree._Element) -> set[str]:
    return {ref.get("Id", "") for ref in children(request, m("Ignore"))}


def sync_folder_items(ctx: Context, request: etree._Element) -> etree._Element:
    shape = Shape.parse(request.find(m("ItemShape")))
    max_changes = _max_changes(request)
    scope = request.findtext(m("SyncScope"), "NormalItems")
    if scope not in _SCOPES:
        raise EWSError(
            "ErrorSchemaValidation",
            f"The request failed schema validation: SyncScope '{scope}' is not valid.",
        )
    response = make(m("SyncFolderItemsResponse"))
    messages = sub(response, m("ResponseMessages"))
    try:
        ref = next(iter(children(request, m("SyncFolderId"))), None)
        if ref is None:
            raise EWSError("ErrorFolderNotFound", "The specified folder could not be found.")
        folder = resolve_folder(ctx, ref)
        rights = require_read_items(ctx, folder)
        state = (request.findtext(m("SyncState")) or "").strip()
        seen: Snapshot = decode_state(folder, state) if state else {}
        ignored = _ignored(request)

        # The folder now, oldest change first (Exchange reports in change-number order).
        current = sorted(folder.items.values(), key=lambda i: (i.modified, i.id))
        pending: list[tuple[str, CalendarItem | str]] = []
        for item in current:
            digest = _digest(item.change_key)
            if seen.get(item.id) == digest:
                continue
            if item.id in ignored:
                seen[item.id] = digest
                continue
            pending.append(("Create" if item.id not in seen else "Update", item))
        for gone in [i for i in seen if i not in folder.items]:
            if gone in ignored:
                del seen[gone]
            else:
                pending.append(("Delete", gone))

        batch = pending[:max_changes]
        msg = response_message("SyncFolderItems")
        changes = make(m("Changes"))
        for kind, what in batch:
            change = sub(changes, t(kind))
            if isinstance(what, str):
                sub(change, t("ItemId"), Id=what)
                del seen[what]
            else:
                inst = Instance(what, what.start, what.end)
                change.append(item_xml(inst, folder, shape, rights, ctx.caller))
                seen[what.id] = _digest(what.change_key)
        sub(msg, m("SyncState"), encode_state(folder, seen))
        sub(msg, m("IncludesLastItemInRange"), xml_bool(len(batch) == len(pending)))
        msg.append(changes)
    except EWSError as err:
        msg = error_message("SyncFolderItems", err)
    messages.append(msg)
    return response
