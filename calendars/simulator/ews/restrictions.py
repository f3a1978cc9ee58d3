"""Restrictions (t:Restriction search expressions) for FindItem and FindFolder.

Covers what exchangelib's QuerySet.filter() produces: And/Or/Not, the comparison operators,
Exists and Contains, on plain FieldURIs and on ExtendedFieldURIs (the app finds its events by
an extended property holding the booking uid), for calendar entries and for folders.

How Exchange compares strings: the store compares string properties without regard to case,
so IsEqualTo "standup" matches a subject "Standup" (the IsEqualTo reference points to
Contains for control over case; Contains honours its ContainmentComparison attribute).
A restriction naming a property Exchange can't filter on is refused before any item is
looked at, so an empty folder answers the same error as a full one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection
from datetime import datetime

from lxml import etree

from .. import timezones
from ..items import Instance
from ..model import Folder, Store, extended_key
from .soap import T_NS, EWSError, t

Value = str | datetime | bool | int | None
Lookup = Callable[[etree._Element], Value | list[str]]

ITEM_FIELDS: dict[str, Callable[[Instance], Value | list[str]]] = {
    "item:Subject": lambda inst: inst.item.subject,
    "item:Body": lambda inst: inst.item.body,
    "item:Sensitivity": lambda inst: inst.item.sensitivity,
    "item:Importance": lambda inst: inst.item.importance,
    "item:Categories": lambda inst: inst.item.categories,
    "item:DateTimeCreated": lambda inst: inst.item.created,
    "item:LastModifiedTime": lambda inst: inst.item.modified,
    "item:ItemClass": lambda inst: "IPM.Appointment",
    "calendar:Start": lambda inst: inst.start,
    "calendar:End": lambda inst: inst.end,
    "calendar:UID": lambda inst: inst.item.uid,
    "calendar:Location": lambda inst: inst.item.location,
    "calendar:LegacyFreeBusyStatus": lambda inst: inst.item.status,
    "calendar:IsAllDayEvent": lambda inst: inst.item.is_all_day,
    "calendar:IsRecurring": lambda inst: inst.item.recurrence is not None,
    "calendar:IsMeeting": lambda inst: inst.item.is_meeting,
    "calendar:CalendarItemType": lambda inst: inst.kind,
}

FOLDER_FIELDS: dict[str, Callable[[Folder, Store], Value | list[str]]] = {
    "folder:DisplayName": lambda folder, store: folder.name,
    "folder:FolderClass": lambda folder, store: folder.folder_class,
    "folder:TotalCount": lambda folder, store: len(folder.items),
    "folder:ChildFolderCount": lambda folder, store: len(store.children(folder.id)),
}

_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,  # type: ignore[operator]
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,  # type: ignore[operator]
    "IsLessThan": lambda a, b: a < b,  # type: ignore[operator]
    "IsLessThanOrEqualTo": lambda a, b: a <= b,  # type: ignore[operator]
}


def check(expr: etree._Element, fields: Collection[str]) -> None:
    """Refuse, as Exchange does up front, operators and properties it can't filter on."""
    op = etree.QName(expr).localname
    kids = _kids(expr)
    if op in ("And", "Or", "Not"):
        for kid in kids:
            check(kid, fields)
        return
    if op not in (*_COMPARE, "Exists", "Contains"):
        raise EWSError("ErrorUnsupportedQueryFilter", f"The restriction {op} is not supported.")
    path = kids[0] if kids else None
    name = etree.QName(path).localname if path is not None else ""
    if name == "FieldURI" and path is not None:
        uri = path.get("FieldURI", "")
        if uri not in fields:
            raise EWSError(
                "ErrorUnsupportedPathForQuery",
                f"The property {uri} is not supported in a restriction.",
            )
    elif name != "ExtendedFieldURI":
        raise EWSError("ErrorUnsupportedPathForQuery", f"Unsupported path {name} in a restriction.")
    if op in _COMPARE and expr.find(f"{{{T_NS}}}FieldURIOrConstant/{{{T_NS}}}Constant") is None:
        raise EWSError("ErrorUnsupportedQueryFilter", "Only constant comparisons are supported.")


def matches(inst: Instance, expr: etree._Element) -> bool:
    """Evaluate one search expression element against a calendar entry."""

    def lookup(path: etree._Element) -> Value | list[str]:
        if etree.QName(path).localname == "ExtendedFieldURI":
            prop = inst.item.extended.get(extended_key(dict(path.attrib)))
            if prop is None:
                return None
            return prop.values if prop.is_array else (prop.values[0] if prop.values else "")
        return ITEM_FIELDS[path.get("FieldURI", "")](inst)

    check(expr, ITEM_FIELDS)
    return _evaluate(expr, lookup)


def folder_matches(folder: Folder, store: Store, expr: etree._Element) -> bool:
    """Evaluate one search expression element against a folder (FindFolder)."""

    def lookup(path: etree._Element) -> Value | list[str]:
        if etree.QName(path).localname == "ExtendedFieldURI":
            return None  # simulated folders carry no extended properties
        return FOLDER_FIELDS[path.get("FieldURI", "")](folder, store)

    check(expr, FOLDER_FIELDS)
    return _evaluate(expr, lookup)


def _kids(expr: etree._Element) -> list[etree._Element]:
    return [c for c in expr if isinstance(c.tag, str)]


def _evaluate(expr: etree._Element, lookup: Lookup) -> bool:
    op = etree.QName(expr).localname
    kids = _kids(expr)
    if op == "And":
        return all(_evaluate(k, lookup) for k in kids)
    if op == "Or":
        return any(_evaluate(k, lookup) for k in kids)
    if op == "Not":
        return not _evaluate(kids[0], lookup)
    value = lookup(kids[0])
    if op == "Exists":
        return value is not None and value != [] and value != ""
    if op == "Contains":
        return _contains(expr, value)
    constant = expr.find(f"{{{T_NS}}}FieldURIOrConstant/{{{T_NS}}}Constant")
    text = constant.get("Value", "") if constant is not None else ""
    candidates = value if isinstance(value, list) else [value]
    for candidate in candidates:
        if candidate is None:
            continue
        actual, wanted = _coerce(candidate, text)
        if _COMPARE[op](actual, wanted):
            return True
    return op == "IsNotEqualTo" and value is None


def _coerce(actual: Value, constant: str) -> tuple[object, object]:
    """Compare like with like: the constant takes the type of the stored value; strings
    compare without regard to case, as the Exchange store does."""
    if isinstance(actual, datetime):
        return actual, timezones.parse_ews_datetime(constant, None)
    if isinstance(actual, bool):
        return actual, constant.strip().lower() == "true"
    if isinstance(actual, int):
        return actual, int(constant)
    return str(actual).casefold(), constant.casefold()


def _contains(expr: etree._Element, value: Value | list[str]) -> bool:
    wanted = expr.find(t("Constant"))
    needle = wanted.get("Value", "") if wanted is not None else ""
    mode = expr.get("ContainmentMode", "Substring")
    comparison = expr.get("ContainmentComparison", "Exact")
    # MAPI's fuzzy levels behind ContainmentComparison: IgnoreCase, IgnoreNonSpacingCharacters
    # (diacritics), and Loose, which matches whenever it can (both of those).
    loose = comparison.startswith("Loose")
    ignore_case = loose or "IgnoreCase" in comparison
    ignore_marks = loose or "NonSpac" in comparison or "IgnoreNonSpace" in comparison

    def fold(text: str) -> str:
        if ignore_marks:
            decomposed = unicodedata.normalize("NFD", text)
            text = "".join(c for c in decomposed if not unicodedata.combining(c))
        return text.casefold() if ignore_case else text

    pin = fold(needle)
    for candidate in value if isinstance(value, list) else [value]:
        if not isinstance(candidate, str):
            continue
        hay = fold(candidate)
        if mode == "FullString" and hay == pin:
            return True
        if mode == "Prefixed" and hay.startswith(pin):
            return True
        if mode not in ("FullString", "Prefixed") and pin in hay:
            return True
    return False
