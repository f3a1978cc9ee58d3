"""ResolveNames and ConvertId.

exchangelib sends ConvertId (with the id "DUMMY") only to learn the server version from the
response header, so the per-id answer matters less than the header; still, ids are answered
the way Exchange does: unknown or malformed ids get ErrorInvalidIdMalformed.
"""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from .operations import Context
from .soap import EWSError, children, m, make, response_message, sub, t


def convert_id(ctx: Context, request: etree._Element) -> etree._Element:
    destination = request.get("DestinationFormat", "EwsId")
    response = make(m("ConvertIdResponse"))
    messages = sub(response, m("ResponseMessages"))
    for source in children(request, m("SourceIds")):
        item_id = source.get("Id", "")
        try:
            base64.b64decode(item_id, validate=True)
            known = ctx.store.find_item(item_id) is not None or item_id in ctx.store.folders
        except binascii.Error:
            known = False
        if not known:
            messages.append(
                response_message("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")
            )
            continue
        # Ids are opaque here and identical in every format; only the Format label changes.
        msg = response_message("ConvertId")
        alternate = sub(
            msg, m("AlternateId"), Format=destination, Id=item_id, Mailbox=source.get("Mailbox", "")
        )
        alternate.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")
        messages.append(msg)
    return response


def resolve_names(ctx: Context, request: etree._Element) -> etree._Element:
    """Match mailboxes by address, login, or a prefix of the address or display name."""
    entry = (request.findtext(m("UnresolvedEntry")) or "").strip().lower()
    entry = entry.removeprefix("smtp:")
    if not entry:
        raise EWSError("ErrorNameResolutionNoResults", "No results were found.")
    found = []
    for mbx in ctx.store.mailboxes.values():
        names = [mbx.smtp, mbx.display_name.lower(), *(x.lower() for x in mbx.logins)]
        if any(n == entry or n.startswith(entry) for n in names):
            found.append(mbx)
    response = make(m("ResolveNamesResponse"))
    messages = sub(response, m("ResponseMessages"))
    if not found:
        messages.append(
            response_message(
                "ResolveNames", "ErrorNameResolutionNoResults", "No results were found."
            )
        )
        return response
    msg = response_message("ResolveNames")
    if len(found) > 1:
        # Exchange answers several matches as a warning, not an error.
        msg = response_message(
            "ResolveNames",
            "ErrorNameResolutionMultipleResults",
            "Multiple results were found.",
        )
        msg.set("ResponseClass", "Warning")
    resolution_set = sub(
        msg,
        m("ResolutionSet"),
        TotalItemsInView=str(len(found)),
        IncludesLastItemInRange="true",
    )
    for mbx in found:
        box = sub(sub(resolution_set, t("Resolution")), t("Mailbox"))
        sub(box, t("Name"), mbx.display_name)
        sub(box, t("EmailAddress"), mbx.smtp)
        sub(box, t("RoutingType"), "SMTP")
        sub(box, t("MailboxType"), "Mailbox")
    messages.append(msg)
    return response
