"""The writers of canvases, steps, audiences and the users in them, one module per thing.

The admin, the REST API, management commands and tasks call these
functions; none of them writes the models directly or opens a transaction.
Each function states its contract, checks its preconditions and runs
atomically. What the callers use is gathered here, so they write
`services.users_enter(...)` whatever module it lives in.
"""

from audiences.sending.pinterest import Held, Missing, PinterestProblem, Refused, TryLater
from audiences.services.audiences import (
    ACTALIKE_COUNTRIES,
    AUDIENCE_NAME_MAX_LENGTH,
    AudienceChoice,
    audience_create_actalike,
    audience_create_draft,
    audience_resolve,
    audience_use_existing,
    audiences_sweep,
    pinterest_audiences_search,
)
from audiences.services.canvases import (
    canvas_create,
    canvas_delete,
    canvas_delete_problem,
    canvas_launch,
    canvas_stop,
    canvas_update,
    launch_problems,
)
from audiences.services.entries import (
    IDENTIFIER_MAX_LENGTH,
    MAX_EXTERNAL_ID_LENGTH,
    USER_FIELDS,
    CheckedUsers,
    HashedUsers,
    ValidUser,
    user_validate,
    users_fold,
    users_validate,
    canvas_for_entry,
    entry_fingerprint,
    hash_users,
    idempotent_requests_purge,
    users_enter,
    users_enter_once,
)
from audiences.services.delay_steps import delays_advance
from audiences.services.alerts import alert_settings_of, alert_settings_update, alerts_check, alerts_deliver
from audiences.services.webhooks import webhook_url_validate
from audiences.services.audit import acting, audit_record
from audiences.services.erasure import NothingToErase, erasure_request, privacy_request_run, privacy_requests_process
from audiences.services.errors import EntryRejected, IdempotencyKeyReused, LaunchRefused, NotAllowed, ServiceError
from audiences.services.preview import Preview, step_preview
from audiences.services.retention import retention_purge
from audiences.services.vacuum import vacuum_tables_due
from audiences.services.retries import records_error_expired, records_retry_errored
from audiences.services.suppression import (
    SuppressionResult,
    suppression_add,
    suppression_count,
    suppression_entry_validate,
    suppression_remove,
)
from audiences.services.steps import (
    MATCH_FIELDS,
    EntryResult,
    HashedUser,
    step_create_audience_sync,
    step_create_delay,
    step_delete,
    step_match_fields,
    step_update,
)

__all__ = [
    "CheckedUsers", "HashedUsers", "IDENTIFIER_MAX_LENGTH", "USER_FIELDS", "ValidUser", "user_validate", "users_fold",
    "users_validate",
    "ACTALIKE_COUNTRIES", "AUDIENCE_NAME_MAX_LENGTH", "AudienceChoice", "EntryRejected", "EntryResult", "HashedUser",
    "Held", "IdempotencyKeyReused", "LaunchRefused", "MATCH_FIELDS", "MAX_EXTERNAL_ID_LENGTH", "Missing",
    "NotAllowed", "PinterestProblem", "Refused", "ServiceError", "TryLater", "audience_create_actalike",
    "audience_create_draft", "audience_resolve", "audience_use_existing", "audiences_sweep", "canvas_create",
    "canvas_delete", "canvas_delete_problem", "canvas_for_entry", "canvas_launch", "canvas_stop", "canvas_update",
    "delays_advance",
    "entry_fingerprint", "hash_users", "idempotent_requests_purge", "launch_problems", "pinterest_audiences_search",
    "records_error_expired", "records_retry_errored", "step_create_audience_sync", "step_create_delay",
    "step_delete", "step_match_fields", "step_update", "users_enter", "users_enter_once",
    # Trust and privacy
    "NothingToErase", "acting", "alert_settings_of", "alert_settings_update", "alerts_check", "alerts_deliver", "webhook_url_validate", "audit_record", "erasure_request", "privacy_request_run", "privacy_requests_process",
    "Preview", "retention_purge", "vacuum_tables_due", "step_preview", "SuppressionResult", "suppression_add", "suppression_count", "suppression_entry_validate",
    "suppression_remove",
]
