"""The service's own settings: the sender and its limits, retention, imports, segment sources, /healthz and /metrics.

Read from the environment like every other setting (project/settings.py imports them all).
"""

import os
from pathlib import Path

from project.env import env_bool, env_float, env_int

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Sync limits (Pinterest's limits as Braze documents them; API-NOTES 3.5, 5.3)
SYNC_BATCH_SIZE = env_int("SYNC_BATCH_SIZE", 1900)  # records per request
SYNC_RATE_LIMIT_PER_SECOND = env_int("SYNC_RATE_LIMIT_PER_SECOND", 7)  # per Pinterest user token
SYNC_WINDOW_SECONDS = env_float("SYNC_WINDOW_SECONDS", 5.0)  # batch window
SYNC_RETRY_WINDOW_HOURS = env_float("SYNC_RETRY_WINDOW_HOURS", 13.0)  # then the user is errored
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 60)  # a claimed batch returns to pending after this
# Retention (audiences.services.retention): finished sync records, send logs and privacy
# requests are deleted after RETENTION_DAYS; audit events after AUDIT_RETENTION_DAYS.
# Each scheduled run (every minute) deletes in batches until nothing old is left or RETENTION_RUN_SECONDS
# have passed; the days may be fractions (a soak shortens them to minutes).
RETENTION_DAYS = env_float("RETENTION_DAYS", 30.0)
AUDIT_RETENTION_DAYS = env_float("AUDIT_RETENTION_DAYS", 365.0)
RETENTION_RUN_SECONDS = env_float("RETENTION_RUN_SECONDS", 45.0)
# PostgreSQL: after each retention run the service vacuums and analyses the tables in which more than this
# share of the rows are dead or changed (and at least VACUUM_MIN_DEAD_ROWS), in case autovacuum is off or
# behind (audiences.services.vacuum).
VACUUM_DEAD_SHARE = env_float("VACUUM_DEAD_SHARE", 0.1)
VACUUM_MIN_DEAD_ROWS = int(os.environ.get("VACUUM_MIN_DEAD_ROWS", "10000"))
# Alert webhooks may only call public addresses (audiences.services.webhooks); host names listed here
# (comma-separated, e.g. "alerts.internal,10.0.0.5") may resolve to private ones, for a receiver inside.
ALERT_WEBHOOK_ALLOWED_HOSTS = [
    h.strip().lower() for h in os.environ.get("ALERT_WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip()
]
# Segment SQL sources (audiences.services.sources): the database hosts a workspace admin's source may name
# (comma-separated; empty: none, only staff create sources), the folder a SQLite source file must be in (empty:
# no SQLite sources), and how long a source's query may run.
SEGMENT_SOURCE_ALLOWED_HOSTS = [
    h.strip().lower() for h in os.environ.get("SEGMENT_SOURCE_ALLOWED_HOSTS", "").split(",") if h.strip()
]
SEGMENT_SOURCE_SQLITE_DIR = os.environ.get("SEGMENT_SOURCE_SQLITE_DIR", "")
SEGMENT_SOURCE_STATEMENT_TIMEOUT_SECONDS = env_int("SEGMENT_SOURCE_STATEMENT_TIMEOUT_SECONDS", 300)
# A segment snapshot not committed (or confirmed) this many days after it was opened is discarded with its
# staged members by the retention schedule: an export that died half-way leaves nothing behind.
SNAPSHOT_OPEN_DAYS = env_float("SNAPSHOT_OPEN_DAYS", 7.0)
# A commit asked for in a web request (the API, the admin) is done there for snapshots of up to
# SEGMENT_COMMIT_INLINE_ROWS rows and for up to SEGMENT_COMMIT_INLINE_SECONDS; a larger or slower one goes on in
# a worker, and the request answers "committing".
SEGMENT_COMMIT_INLINE_ROWS = env_int("SEGMENT_COMMIT_INLINE_ROWS", 50_000)
SEGMENT_COMMIT_INLINE_SECONDS = env_float("SEGMENT_COMMIT_INLINE_SECONDS", 10.0)
# The sender: SYNC_PUMPS long-running pump tasks (each holds one django-q2
# worker; lists are shared out among them by Pinterest user), each with up to
# SYNC_PUMP_THREADS sender threads, keeping at most
# SYNC_REQUESTS_IN_FLIGHT_PER_TOKEN requests of one Pinterest user in flight,
# so the token's 7 requests/s are used even when Pinterest answers slowly and
# one user's backlog never takes another's room.
SYNC_PUMPS = env_int("SYNC_PUMPS", 1)
SYNC_PUMP_THREADS = env_int("SYNC_PUMP_THREADS", 32)
SYNC_REQUESTS_IN_FLIGHT_PER_TOKEN = env_int("SYNC_REQUESTS_IN_FLIGHT_PER_TOKEN", 6)
# How long one pump task runs before handing over to its successor (below the
# task timeout, which is below the broker's retry).
SYNC_PUMP_SECONDS = env_float("SYNC_PUMP_SECONDS", 40.0)
# Entering users wakes the sender at once (off only in tests that drive it by hand).
SYNC_SENDER_AUTOSTART = env_bool("SYNC_SENDER_AUTOSTART", True)
# Added to the rolling one-second window, so a request delayed between taking
# its send time and Pinterest taking it in never makes an 8th in any second.
SYNC_RATE_LIMIT_MARGIN_SECONDS = env_float("SYNC_RATE_LIMIT_MARGIN_SECONDS", 0.06)

# --- Imports (audiences.services.imports): files of users taken in as jobs ----------------------
# An uploaded file is kept here while its job runs (outside the database, so any worker on a
# shared disk can read it) and deleted when the job ends.
IMPORTS_ROOT = Path(os.environ.get("IMPORTS_ROOT", BASE_DIR / "var" / "imports"))
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 200 * 1024 * 1024)  # about 4 million users of ~50 bytes
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 2_000_000)
IMPORT_BATCH_SIZE = env_int("IMPORT_BATCH_SIZE", 5000)  # users per transaction
# A job's task works this long, then hands over to a fresh task: below the cluster's timeout (90 s),
# so no task is cut off or handed to a second worker by the ORM broker's retry.
IMPORT_TASK_SECONDS = env_float("IMPORT_TASK_SECONDS", 45.0)

# --- Operating it (README): /healthz and /metrics ----------------------------------------
# /healthz answers 503 when nobody sends while a user has waited this long to be sent...
HEALTH_SENDER_GRACE_SECONDS = env_float("HEALTH_SENDER_GRACE_SECONDS", 90.0)
# ...or when the longest-waiting due user has waited longer than this, senders or not.
HEALTH_MAX_DUE_AGE_SECONDS = env_float("HEALTH_MAX_DUE_AGE_SECONDS", 900.0)
# /healthz fails when a finished row is kept this long past its retention window (retention fell behind).
HEALTH_RETENTION_GRACE_SECONDS = env_float("HEALTH_RETENTION_GRACE_SECONDS", 3600.0)
# /metrics: with METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>`; without, only these addresses.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = [
    a.strip() for a in os.environ.get("METRICS_ALLOWED_IPS", "127.0.0.1,::1").split(",") if a.strip()
]
# Load balancers probe over plain HTTP inside the network: no redirect to HTTPS for these two.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
