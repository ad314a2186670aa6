from django.core.management.base import BaseCommand, CommandError

from integrations.management.workspaces import workspace_by_slug
from integrations.pinterest import client as pinterest
from integrations.services.connections import connection_connect

MAX_TOKEN_LENGTH = 4096


def _token_like(value: str) -> bool:
    # Tokens travel in an HTTP header: visible ASCII only (a pasted newline or
    # a non-ASCII character would break the request, not reach Pinterest).
    return 0 < len(value) <= MAX_TOKEN_LENGTH and all("!" <= c <= "~" for c in value)


class Command(BaseCommand):
    help = (
        "Connect a workspace to Pinterest with tokens obtained elsewhere. Stores them encrypted, reads the "
        "Pinterest user and all its ad accounts, and enables the ones named (or all). Running it again "
        "replaces the tokens and makes an invalid connection valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--access-token", required=True)
        parser.add_argument("--refresh-token", required=True)
        parser.add_argument("--expires-in", type=int, default=None, help="seconds until the access token expires")
        parser.add_argument("--ad-accounts", default="", help="comma-separated ad account ids to enable (default: all)")

    def handle(self, *args, **options):
        workspace = workspace_by_slug(options["workspace"], nothing_done="Nothing was connected.")
        wanted = [a.strip() for a in options["ad_accounts"].split(",") if a.strip()] or None
        bad = [position for position, value in enumerate(wanted or [], start=1) if not pinterest.is_valid_id(value)]
        if bad:
            raise CommandError(
                f"--ad-accounts: item {bad[0]} is not a Pinterest ad account id (1 to {pinterest.ID_MAX_LENGTH} "
                f"digits). Give ids separated by commas, e.g. --ad-accounts 549755813599,549755813600."
            )
        for name in ("access_token", "refresh_token"):
            if not _token_like(options[name]):
                raise CommandError(f"--{name.replace('_', '-')} is not a Pinterest token "
                                   f"(1 to {MAX_TOKEN_LENGTH} visible ASCII characters).")
        if options["expires_in"] is not None and not 0 < options["expires_in"] <= 10 * 365 * 24 * 3600:
            raise CommandError("--expires-in is a number of seconds, more than 0 and at most ten years.")
        tokens = pinterest.TokenSet(
            access_token=options["access_token"],
            refresh_token=options["refresh_token"],
            expires_in=options["expires_in"],
            refresh_token_expires_in=None,
            scope="",
        )
        try:
            connection = connection_connect(workspace=workspace, tokens=tokens, enabled_ad_account_ids=wanted)
        except pinterest.PinterestError as exc:
            raise CommandError(f"Pinterest refused: {exc}") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        enabled = connection.ad_accounts.filter(enabled=True)
        self.stdout.write(
            f"Connected workspace {workspace.slug} to Pinterest user {connection.pinterest_username} "
            f"({connection.pinterest_user_id}); ad accounts enabled: "
            + (", ".join(f"{a.name} ({a.pinterest_id})" for a in enabled) or "none")
        )
