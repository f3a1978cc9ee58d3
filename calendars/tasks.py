"""Periodic upkeep of connections (scheduled by Celery beat, see settings)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import mail_admins

from calendars import connect, synclog
from calendars.models import AuthType, ConnectionKind, ExchangeConnection


@shared_task
def prune_sync_log() -> int:
    return synclog.prune(settings.SYNC_LOG_RETENTION_DAYS)


@shared_task
def verify_connections() -> None:
    """Re-verify every connection and corporate member; tell admins what newly broke."""
    broken: list[str] = []
    for conn in ExchangeConnection.objects.all():
        was_ok = conn.status == "ok"
        error = connect.verify(conn)
        if error is not None and was_ok:
            broken.append(f"{conn}: {error.message}")
        if conn.kind == ConnectionKind.CORPORATE and error is None:
            for member in conn.members.all():
                had_access = member.access_ok
                connect.check_member(member)
                if had_access and not member.access_ok:
                    broken.append(f"{member.mailbox}: {member.error}")
    if broken:
        mail_admins("Exchange connections need attention", "\n".join(broken))


@shared_task
def warn_expiring_client_secrets() -> None:
    """A silently expired client secret stops every lookup: warn two weeks ahead."""
    expiring = [
        conn
        for conn in ExchangeConnection.objects.filter(auth_type=AuthType.OAUTH_APP)
        if conn.client_secret_expires_soon()
    ]
    for conn in expiring:
        what = conn.app_credential
        mail_admins(
            f"OAuth {what} of {conn.email} expires on {conn.app_credential_expires_on}",
            f"Create a new {what} for the app registration in Entra ID and rotate it in the "
            f"site's admin (Exchange connections > the corporate connection > Rotate {what}) "
            "before it expires; after that every calendar lookup fails.",
        )


@shared_task
def warm_busy_cache() -> int:
    """Refresh busy time of ranges customers looked at recently (see calendars.busy.warm)."""
    from calendars import busy

    return busy.warm()
