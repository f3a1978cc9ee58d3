"""FindItem restrictions (t:Restriction search expressions) evaluated against calendar entries.

Covers what exchangelib's QuerySet.filter() produces for calendar items: And/Or/Not, the
comparison operators, Exists and Contains, on plain FieldURIs and on ExtendedFieldURIs (the
app finds its events by an extended property holding the booking uid).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lxml import etree

from . import timezones
from .items import Instance
from .model import extended_key
from .soap import T_NS, EWSError, t

Value = str | datetime | bool | int | None


def _field_value(inst: Instance, uri: str) -> Value | list[str]:
    item = inst.item
    values: dict[str, Callable[[], Value | list[str]]] = {
        "item:Subject": lambda: item.subject,
        "item:Body": lambda: item.body,
        "item:Sensitivity": lambda: item.sensitivity,
        "item:Importance": lambda: item.importance,
        "item:Categories": lambda: item.categories,
        "item:DateTimeCreated": lambda: item.created,
        "item:LastModifiedTime": lambda: item.modified,
        "item:ItemClass": lambda: "IPM.Appointment",
        "calendar:Start": lambda: inst.start,
        "calendar:End": lambda: inst.end,
        "calendar:UID": lambda: item.uid,
        "calendar:Location": lambda: item.location,
        "calendar:LegacyFreeBusyStatus": lambda: item.status,
        "calendar:IsAllDayEvent": lambda: item.is_all_day,
        "calendar:IsRecurring": lambda: item.recurrence is not None,
        "calendar:IsMeeting": lambda: item.is_meeting,
        "calendar:CalendarItemType": lambda: inst.kind,
    }
    if uri not in values:
        raise EWSError(
            "ErrorUnsupportedPathForQuery", f"The property {uri} is not supported in a restriction."
        )
    return values[uri]()


def _path_value(inst: Instance, path: etree._Element) -> Value | list[str]:
    name = etree.QName(path).localname
    if name == "FieldURI":
        return _field_value(inst, path.get("FieldURI", ""))
    if name == "ExtendedFieldURI":
        prop = inst.item.extended.get(extended_key(dict(path.attrib)))
        if prop is None:
            return None
        return prop.values if prop.is_array else (prop.values[0] if prop.values else "")
    raise EWSError("ErrorUnsupportedPathForQuery", f"Unsupported path {name} in a restriction.")


def _coerce(actual: Value, constant: str) -> tuple[object, object]:
    """Compare like with like: the constant takes the type of the stored value."""
    if isinstance(actual, datetime):
        return actual, timezones.parse_ews_datetime(constant, None)
    if isinstance(actual, bool):
        return actual, constant.strip().lower() == "true"
    if isinstance(actual, int):
        return actual, int(constant)
    return actual, constant


_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,  # type: ignore[operator]
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,  # type: ignore[operator]
    "IsLessThan": lambda a, b: a < b,  # type: ignore[operator]
    "IsLessThanOrEqualTo": lambda a, b: a <= b,  # type: ignore[operator]
}


def matches(inst: Instance, expr: etree._Element) -> bool:
    """Evaluate one search expression element against an entry."""
    op = etree.QName(expr).localname
    kids = [c for c in expr if isinstance(c.tag, str)]
    if op == "And":
        return all(matches(inst, k) for k in kids)
    if op == "Or":
        return any(matches(inst, k) for k in kids)
    if op == "Not":
        return not matches(inst, kids[0])
    if op == "Exists":
        value = _path_value(inst, kids[0])
        return value is not None and value != [] and value != ""
    if op == "Contains":
        return _contains(inst, expr, kids)
    if op in _COMPARE:
        value = _path_value(inst, kids[0])
        constant = expr.find(f"{{{T_NS}}}FieldURIOrConstant/{{{T_NS}}}Constant")
        if constant is None:
            raise EWSError(
                "ErrorUnsupportedQueryFilter", "Only constant comparisons are supported."
            )
        text = constant.get("Value", "")
        candidates = value if isinstance(value, list) else [value]
        for candidate in candidates:
            if candidate is None:
                continue
            actual, wanted = _coerce(candidate, text)
            if _COMPARE[op](actual, wanted):
                return True
        return op == "IsNotEqualTo" and value is None
    raise EWSError("ErrorUnsupportedQueryFilter", f"The restriction {op} is not supported.")


def _contains(inst: Instance, expr: etree._Element, kids: list[etree._Element]) -> bool:
    value = _path_value(inst, kids[0])
    wanted = expr.find(t("Constant"))
    needle = wanted.get("Value", "") if wanted is not None else ""
    mode = expr.get("ContainmentMode", "Substring")
    ignore_case = "IgnoreCase" in expr.get("ContainmentComparison", "Exact")
    for candidate in value if isinstance(value, list) else [value]:
        if not isinstance(candidate, str):
            continue
        hay, pin = (candidate.lower(), needle.lower()) if ignore_case else (candidate, needle)
        if mode == "FullString" and hay == pin:
            return True
        if mode == "Prefixed" and hay.startswith(pin):
            return True
        if mode not in ("FullString", "Prefixed") and pin in hay:
            return True
    return False
