"""Validate simulator responses against Microsoft's EWS schema (messages.xsd + types.xsd).

The SOAP envelope itself is not part of the EWS schema, so each child of s:Header and s:Body
is validated on its own. The schema is read from a directory given at runtime and never
copied into the project.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from lxml import etree

from .soap import M_NS, SOAP_NS, T_NS

_lock = threading.Lock()


@functools.cache
def load_schema(directory: str) -> etree.XMLSchema:
    """Parse messages.xsd once per directory (it imports types.xsd and xml.xsd beside it)."""
    return etree.XMLSchema(etree.parse(str(Path(directory) / "messages.xsd")))


def validate_envelope(schema: etree.XMLSchema, envelope: etree._Element) -> list[str]:
    """Violations found in the EWS parts of a response envelope; [] when it is valid.

    Only elements in the EWS messages/types namespaces are checked; SOAP faults are
    standard SOAP, not EWS, and autodiscover uses its own schema.
    """
    errors: list[str] = []
    for part in ("Header", "Body"):
        container = envelope.find(f"{{{SOAP_NS}}}{part}")
        if container is None:
            continue
        for child in container:
            if not isinstance(child.tag, str) or etree.QName(child).namespace not in (M_NS, T_NS):
                continue
            # XMLSchema objects are not safe to use from several threads at once.
            with _lock:
                ok = schema.validate(etree.fromstring(etree.tostring(child)))
                log = schema.error_log
            if not ok:
                errors.extend(
                    f"{etree.QName(child).localname}: {e.message} (line {e.line})" for e in log
                )
    return errors


def request_violation(
    schema: etree.XMLSchema, parts: list[etree._Element]
) -> tuple[int, str] | None:
    """The first schema violation in a request's EWS parts (header children and the
    operation element) as (line, message), or None. Validated in place, so lines are the
    request's own."""
    for part in parts:
        if etree.QName(part).namespace not in (M_NS, T_NS):
            continue
        with _lock:
            ok = schema.validate(part)
            log = schema.error_log
        if not ok:
            first = log[0]
            return first.line, first.message
    return None
