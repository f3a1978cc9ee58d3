"""SOAP plumbing for the EWS simulator: namespaces, element helpers, envelopes, faults.

Everything here produces elements in the order Microsoft's schema demands (the schema is
strict about sequence order even though exchangelib is not), so the rest of the simulator
can build responses without thinking about namespaces.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from ..model import StoreError

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
E_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP_NS, "m": M_NS, "t": T_NS}

# (MajorVersion, MinorVersion, MajorBuildNumber, MinorBuildNumber) of a fully patched
# on-premises server; exchangelib maps 15.1 to Exchange 2016 and 15.2 to Exchange 2019.
SERVER_BUILDS: dict[str, tuple[int, int, int, int]] = {
    "Exchange2016": (15, 1, 2507, 39),
    "Exchange2019": (15, 2, 1544, 11),
}


# Operations raise the store's error for one response message (e.g. one item id) or, when
# it escapes the operation, the server turns it into a SOAP fault.
EWSError = StoreError


def m(tag: str) -> str:
    return f"{{{M_NS}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T_NS}}}{tag}"


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a child element; `tag` is a Clark name built with m() or t()."""
    if attrs:
        elem = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    else:  # most elements: no attribute dict to build (thousands per free/busy answer)
        elem = etree.SubElement(parent, tag)
    if text is not None:
        elem.text = text
    return elem


def make(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    elem = etree.Element(tag, {k: v for k, v in attrs.items() if v is not None}, nsmap=NSMAP)
    if text is not None:
        elem.text = text
    return elem


def children(parent: etree._Element, tag: str) -> list[etree._Element]:
    """The element children of `parent`'s `tag` child (empty when that child is missing)."""
    container = parent.find(tag)
    return [] if container is None else [c for c in container if isinstance(c.tag, str)]


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def ews_datetime(value: datetime) -> str:
    """UTC with a Z suffix, the way Exchange writes item times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str, default_tz: object = UTC) -> datetime:
    """Parse an xs:dateTime; naive values are local to `default_tz` (EWS TimeZoneContext)."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)  # type: ignore[arg-type]
    return value.astimezone(UTC)


def response_message(
    op: str,
    code: str = "NoError",
    text: str | None = None,
    values: dict[str, str] | None = None,
) -> etree._Element:
    """`m:<Op>ResponseMessage` with ResponseClass, MessageText, ResponseCode, MessageXml.

    Exchange writes MessageText before ResponseCode and leaves MessageText out on success.
    """
    ok = code == "NoError"
    msg = make(m(f"{op}ResponseMessage"), ResponseClass="Success" if ok else "Error")
    fill_response_message(msg, code, text, values)
    return msg


def fill_response_message(
    msg: etree._Element, code: str, text: str | None, values: dict[str, str] | None = None
) -> None:
    if code != "NoError":
        sub(msg, m("MessageText"), text or code)
    sub(msg, m("ResponseCode"), code)
    if code != "NoError":
        sub(msg, m("DescriptiveLinkKey"), "0")
    if values:
        xml = sub(msg, m("MessageXml"))
        for name, value in values.items():
            sub(xml, t("Value"), value, Name=name)


def error_message(op: str, err: EWSError) -> etree._Element:
    return response_message(op, err.code, err.message, err.values)


def envelope(body_child: etree._Element, version: str) -> etree._Element:
    """Wrap a response in an envelope whose header carries ServerVersionInfo (exchangelib
    reads the server build from it)."""
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(env, f"{{{SOAP_NS}}}Header")
    major, minor, build, rev = SERVER_BUILDS[version]
    etree.SubElement(
        header,
        t("ServerVersionInfo"),
        MajorVersion=str(major),
        MinorVersion=str(minor),
        MajorBuildNumber=str(build),
        MinorBuildNumber=str(rev),
        # Exchange 2016/2019 report the newest schema they speak; exchangelib trusts it.
        Version="Exchange2016",
    )
    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    body.append(body_child)
    return env


def fault(
    code: str,
    message: str,
    values: dict[str, str] | None = None,
    *,
    details: dict[str, str] | None = None,
) -> etree._Element:
    """A SOAP 1.1 fault shaped like Exchange's (faultcode in the types namespace, details in
    the errors namespace, MessageXml in the types namespace), without a header as Exchange does.

    `values` go into MessageXml as t:Value Name=... (BackOffMilliseconds); `details` as
    elements of their own, which is how ErrorSchemaValidation carries t:LineNumber,
    t:LinePosition and t:Violation (and where exchangelib reads them)."""
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"s": SOAP_NS})
    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    flt = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
    faultcode = etree.SubElement(flt, "faultcode", nsmap={"a": T_NS})
    faultcode.text = f"a:{code}"
    faultstring = etree.SubElement(flt, "faultstring")
    faultstring.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    faultstring.text = message
    detail = etree.SubElement(flt, "detail")
    etree.SubElement(detail, f"{{{E_NS}}}ResponseCode", nsmap={"e": E_NS}).text = code
    etree.SubElement(detail, f"{{{E_NS}}}Message", nsmap={"e": E_NS}).text = message
    if values or details:
        xml = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T_NS})
        for name, value in (values or {}).items():
            etree.SubElement(xml, t("Value"), Name=name).text = value
        for name, value in (details or {}).items():
            etree.SubElement(xml, t(name)).text = value
    return env


def serialize(env: etree._Element) -> bytes:
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
