"""Re-encrypt every stored secret with the first key in FERNET_KEYS.

Key rotation: put the new key first in FERNET_KEYS (keep the old ones after it), deploy,
run this command, then remove the old keys.
"""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from calendars.models import ExchangeConnection

SECRET_FIELDS = [
    "password",
    "oauth_client_secret",
    "oauth_client_certificate",
    "oauth_refresh_token",
]


class Command(BaseCommand):
    help = "Re-encrypt stored Exchange secrets with the first key in FERNET_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            # Reading decrypts with whichever key matches; saving encrypts with the first.
            for conn in ExchangeConnection.objects.select_for_update():
                conn.save(update_fields=SECRET_FIELDS)
                count += 1
        self.stdout.write(f"Re-encrypted the secrets of {count} connection(s).")
