import hashlib

from django.core.management.base import BaseCommand, CommandError

from integrations import crypto
from integrations.mfa import authenticators_rotate_key
from integrations.services.tokens import connections_rotate_token_key


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Pinterest token and two-factor secret with the first key of TOKEN_ENCRYPTION_KEYS. "
        "To rotate: put the new key first and keep the old one after it, run this command, "
        "then drop the old key."
    )

    def handle(self, *args, **options):
        rotated, failed = connections_rotate_token_key()
        authenticators, unopened = authenticators_rotate_key()
        # A fingerprint, not the key: enough to tell which key is now in use.
        fingerprint = hashlib.sha256(crypto.configured_keys()[0].encode()).hexdigest()[:8]
        self.stdout.write(
            f"Re-encrypted the tokens of {rotated} connection{'s' if rotated != 1 else ''} "
            f"with the first key (fingerprint {fingerprint})."
        )
        self.stdout.write(
            f"Re-encrypted the two-factor secrets of {authenticators} authenticator{'s' if authenticators != 1 else ''}."
        )
        if failed:
            names = ", ".join(f"{c.workspace.slug} (connection {c.pk})" for c in failed)
            raise CommandError(
                f"No configured key opens the tokens of {len(failed)} connection(s): {names}. "
                "Add their old key to TOKEN_ENCRYPTION_KEYS and run this again, or reconnect them."
            )
        if unopened:
            names = ", ".join(sorted({a.user.get_username() for a in unopened}))
            raise CommandError(
                f"No configured key opens the two-factor secrets of {names}. Add their old key to "
                "TOKEN_ENCRYPTION_KEYS and run this again, or remove their authenticators so they set up anew."
            )
