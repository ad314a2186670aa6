import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.pinterest.sandbox import SandboxServer


class Command(BaseCommand):
    help = "Run the local Pinterest API sandbox (OAuth consent page, v5 routes, Pinterest's limits) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.SANDBOX_PORT)
        parser.add_argument("--rate-limit", type=int, default=7, help="requests per second per user")
        parser.add_argument("--max-records", type=int, default=1900, help="records per request")
        parser.add_argument("--fail-429", type=float, default=0.0, help="share of API calls answered 429")
        parser.add_argument("--fail-5xx", type=float, default=0.0, help="share of API calls answered 503")
        parser.add_argument("--fail-500", type=float, default=0.0, help="share of API calls answered 500")
        parser.add_argument("--latency-ms", type=int, default=0, help="added to every API answer")
        parser.add_argument("--ready-delay", type=float, default=0.0, help="seconds a changed list stays PROCESSING")
        parser.add_argument("--no-retry-after", action="store_true", help="answer 429s without Retry-After")
        parser.add_argument("--seed-demo", action="store_true", help="create the demo user and its fixed tokens")

    def handle(self, *args, **options):
        server = SandboxServer(
            options["host"],
            options["port"],
            client_id=getattr(settings, "PINTEREST_CLIENT_ID", "sandbox-client-id"),
            client_secret=getattr(settings, "PINTEREST_CLIENT_SECRET", "sandbox-client-secret"),
            rate_limit=options["rate_limit"],
            max_records=options["max_records"],
            ready_delay=options["ready_delay"],
            retry_after_on_429=not options["no_retry_after"],
        )
        server.state.set_faults(
            rate_429=options["fail_429"], rate_5xx=options["fail_5xx"], rate_500=options["fail_500"],
            latency_ms=options["latency_ms"],
        )
        if options["seed_demo"]:
            demo = server.state.seed_demo()
            self.stdout.write(
                f"Demo Pinterest user {demo['username']} ({demo['id']}): access token pina_demo_access_token, "
                "refresh token pinr_demo_refresh_token"
            )
        self.stdout.write(f"Pinterest sandbox on {server.url} (consent page {server.oauth_authorize_url})")
        # SIGTERM stops it like Ctrl-C (shutdown() would wait on this very thread).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.httpd.server_close()
