"""SOAP Autodiscover (``/autodiscover/autodiscover.svc``): GetUserSettings.

exchangelib 5 only speaks SOAP autodiscover and reads ExternalEwsUrl, EwsSupportedSchemas and
AutoDiscoverSMTPAddress from the reply. Exchange answers settings it does not have for a user
under UserSettingErrors (SettingIsNotAvailable), which exchangelib ignores; the simulator does
the same for the settings it does not model.
"""

from __future__ import annotations

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
