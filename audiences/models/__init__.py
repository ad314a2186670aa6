"""Canvases, their steps, audiences and the per-user records of each sync; the trust models apart.

One module per group of models; every model is importable from here
(`from audiences.models import SyncRecord`), as Django and the rest of the
code expect.
"""

# The identifier types a list holds, importable from here beside the models that name them.
from integrations.pinterest.identifiers import EMAIL, IDFA, MAID  # noqa: F401
from audiences.models.canvases import LIST_TYPE_BITS, LIST_TYPE_CHOICES, Audience, AudienceList, Canvas, Step  # noqa: F401
from audiences.models.records import AudienceMember, DelayRecord, SendLog, SyncRecord  # noqa: F401
from audiences.models.counts import (AudienceMemberCount, RequestTotal, StepCount, StepHour, StepLatency,  # noqa: F401
                                     StepSent)
from audiences.models.ops import DueList, IdempotentRequest, Lease, RetentionProgress  # noqa: F401
from audiences.models.trust import (AlertDelivery, AlertSettings, AuditEvent, Incident, PrivacyRequest,  # noqa: F401
                                    SuppressedIdentifier)
from audiences.models.sizes import AudienceSize  # noqa: E402,F401
from audiences.models.segments import Segment, Snapshot, SnapshotMember, SnapshotPage  # noqa: E402,F401
from audiences.models.sources import SourceRun, SqlSource  # noqa: E402,F401
from audiences.models.imports import ImportJob  # noqa: E402,F401
