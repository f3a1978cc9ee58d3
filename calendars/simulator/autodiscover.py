"""SOAP Autodiscover (``/autodiscover/autodiscover.svc``): GetUserSettings.

exchangelib 5 only speaks SOAP autodiscover and reads ExternalEwsUrl, EwsSupportedSchemas and
AutoDiscoverSMTPAddress from the reply. Exchange answers settings it does not have for a user
under UserSettingErrors (SettingIsNotAvailable), which exchangelib ignores; the simulator does
the same for the settings it does not model.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from lxml import etree

from .ews.soap import SERVER_BUILDS, SOAP_NS
from .model import Store

A_NS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA_NS = "http://www.w3.org/2005/08/addressing"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SUPPORTED_SCHEMAS = (
    "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, "
    "Exchange2013, Exchange2013_SP1, Exchange2015, Exchange2016"
)


def _a(tag: str) -> str:
    return f"{{{A_NS}}}{tag}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    elem = etree.SubElement(parent, _a(tag))
    if text is not None:
        elem.text = text
    return elem


def get_user_settings(
    store: Store, request: etree._Element, ews_url: str, version: str
) -> etree._Element:
    """Answer a GetUserSettingsRequestMessage body element with a full response envelope."""
    users = [u.text.strip() for u in request.iter(_a("Mailbox")) if u.text]
    wanted = [s.text.strip() for s in request.iter(_a("Setting")) if s.text]

    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"s": SOAP_NS, "a": WSA_NS})
    header = etree.SubElement(env, f"{{{SOAP_NS}}}Header")
    action = etree.SubElement(header, f"{{{WSA_NS}}}Action")
    action.set(f"{{{SOAP_NS}}}mustUnderstand", "1")
    action.text = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse"
    info = etree.SubElement(header, _a("ServerVersionInfo"), nsmap={"h": A_NS})
    major, minor, build, rev = SERVER_BUILDS[version]
    for name, value in (
        ("MajorVersion", major),
        ("MinorVersion", minor),
        ("MajorBuildNumber", build),
        ("MinorBuildNumber", rev),
    ):
        etree.SubElement(info, _a(name)).text = str(value)
    etree.SubElement(info, _a("Version")).text = "Exchange2015"  # what 2016/2019 report here

    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    message = etree.SubElement(
        body, _a("GetUserSettingsResponseMessage"), nsmap={None: A_NS, "i": XSI_NS}
    )
    response = _sub(message, "Response")
    _sub(response, "ErrorCode", "NoError")
    _sub(response, "ErrorMessage", "")
    responses = _sub(response, "UserResponses")
    for user in users:
        _user_response(store, _sub(responses, "UserResponse"), user, wanted, ews_url, version)
    return env


def _user_response(
    store: Store, resp: etree._Element, user: str, wanted: list[str], ews_url: str, version: str
) -> None:
    with store.lock:
        mbx = store.find_mailbox(user)
    if mbx is None:
        _sub(resp, "ErrorCode", "InvalidUser")
        _sub(resp, "ErrorMessage", f"Invalid user: '{user}'")
        etree.SubElement(resp, _a("RedirectTarget")).set(f"{{{XSI_NS}}}nil", "true")
        _sub(resp, "UserSettingErrors")
        _sub(resp, "UserSettings")
        return
    major, minor, build, rev = SERVER_BUILDS[version]
    known = {
        "UserDisplayName": mbx.display_name,
        "UserDN": f"/o=Simulated/ou=Exchange Administrative Group/cn=Recipients/cn={mbx.smtp}",
        "AutoDiscoverSMTPAddress": mbx.smtp,
        "InternalEwsUrl": ews_url,
        "ExternalEwsUrl": ews_url,
        "EwsSupportedSchemas": SUPPORTED_SCHEMAS,
        "CasVersion": f"{major}.{minor:02d}.{build:04d}.{rev:03d}",
        "ExternalEwsVersion": f"{major}.{minor:02d}.{build:04d}.{rev:03d}",
    }
    _sub(resp, "ErrorCode", "NoError")
    _sub(resp, "ErrorMessage", "No error.")
    etree.SubElement(resp, _a("RedirectTarget")).set(f"{{{XSI_NS}}}nil", "true")
    errors = _sub(resp, "UserSettingErrors")
    settings = _sub(resp, "UserSettings")
    for name in wanted:
        if name in known:
            setting = _sub(settings, "UserSetting")
            setting.set(f"{{{XSI_NS}}}type", "StringSetting")
            _sub(setting, "Name", name)
            _sub(setting, "Value", known[name])
        else:
            error = _sub(errors, "UserSettingError")
            _sub(error, "ErrorCode", "SettingIsNotAvailable")
            _sub(error, "ErrorMessage", "User setting is not available.")
            _sub(error, "SettingName", name)


# --- Autodiscover v2 (JSON) ----------------------------------------------------------------

# Exchange Online's EWS endpoint: what Autodiscover v2 names for a mailbox in the cloud.
EXCHANGE_ONLINE_EWS_URL = "https://outlook.office365.com/EWS/Exchange.asmx"
JSON_PATH = "/autodiscover/autodiscover.json"
# The protocols Exchange's v2 endpoint names a URL for; the simulator answers EWS and
# AutodiscoverV1 (the SOAP/POX endpoint), the others are refused as Exchange refuses a name
# it doesn't know.
_V2_PROTOCOLS = {"ews": "EWS", "autodiscoverv1": "AutodiscoverV1"}


def json_answer(
    store: Store, path: str, query: dict[str, list[str]], base_url: str, ews_url: str
) -> tuple[int, dict[str, Any], str | None]:
    """Autodiscover v2: `GET /autodiscover/autodiscover.json/v1.0/{email}?Protocol=EWS` (or
    the older spelling `/autodiscover/autodiscover.json?Email={email}&Protocol=EWS`), no
    authentication. Returns (HTTP status, JSON body, the mailbox asked about).

    As Exchange answers in a hybrid organisation (Microsoft's "Autodiscover for Exchange",
    and the Test-Autodiscover scripts Microsoft's support engineers publish): each side
    knows every mailbox of the organisation, so either endpoint names where the mailbox
    lives. An on-premises mailbox gets the organisation's EWS URL, one in Exchange Online
    `{"Protocol": "EWS", "Url": "https://outlook.office365.com/EWS/Exchange.asmx"}`. An
    address nobody knows gets the Exchange Online URL too: the front door doesn't tell
    unknown addresses apart (no address harvesting without signing in), so the caller
    finds out only when it asks the mailbox itself (Graph: ErrorInvalidUser). An unknown
    protocol is HTTP 400 `{"ErrorCode": "InvalidProtocol", ...}`; a request without an
    address is 400 too.
    """
    rest = path[len(JSON_PATH) :].strip("/")
    email = ""
    if rest.lower().startswith("v1.0/"):
        email = rest[len("v1.0/") :]
    elif not rest:
        email = (query.get("Email") or query.get("email") or [""])[0]
    email = unquote(email).strip().lower()
    asked = (query.get("Protocol") or query.get("protocol") or [""])[0]
    protocol = _V2_PROTOCOLS.get(asked.lower())
    if protocol is None:
        supported = ",".join(_V2_PROTOCOLS.values())
        return (
            400,
            {
                "ErrorCode": "InvalidProtocol",
                "ErrorMessage": f"The given protocol value '{asked}' is invalid. Supported values "
                f"are '{supported}'",
            },
            email or None,
        )
    if "@" not in email:
        return (
            400,
            {
                "ErrorCode": "InvalidUser",
                "ErrorMessage": "The request must name an email address.",
            },
            None,
        )
    if protocol == "AutodiscoverV1":
        return (
            200,
            {"Protocol": protocol, "Url": f"{base_url}/autodiscover/autodiscover.xml"},
            email,
        )
    with store.lock:
        mbx = store.find_mailbox(email)
    on_premises = mbx is not None and mbx.on_premises
    return (
        200,
        {"Protocol": protocol, "Url": ews_url if on_premises else EXCHANGE_ONLINE_EWS_URL},
        email,
    )
