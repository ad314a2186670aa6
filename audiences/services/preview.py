"""A step's dry run: what it would do for a sample of users. It never calls Pinterest and writes nothing.

The same rules as entering (audiences.services.steps._record_sync): the
entry validator and hashing, the step's match fields, the suppression list,
the ledger's members; plus how many requests, and how long at the token's
rate, a given volume of users would take.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from operator import attrgetter

from django.conf import settings

from audiences.models import Step
from audiences.sending import ledger
from audiences.services.entries import hash_users
from audiences.services.errors import ServiceError
from audiences.services.suppression_check import suppressed_among

SAMPLE_MAX = 10_000
HASHES_SHOWN = 5


@dataclass
class Preview:
    users: int = 0
    would_sync: int = 0
    no_match_fields: int = 0
    suppressed: int = 0
    already_in_audience: int = 0
    duplicates_folded: int = 0
    sample: list[dict] = field(default_factory=list)  # a few users' hashes, as they would be sent
    volume: int = 0
    requests: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def step_preview(*, step: Step, users: Sequence[dict], volume: int | None = None) -> Preview:
    """What the step would do for these users (validated like an entry: one bad row refuses the call).

    `volume` (default: the sample's size) is scaled from the sample: the
    requests it needs at SYNC_BATCH_SIZE identifiers each, and the seconds
    they take at SYNC_RATE_LIMIT_PER_SECOND for the step's token.
    """
    if step.kind != Step.Kind.AUDIENCE_SYNC:
        raise ServiceError("Only Audience Sync steps can be previewed.")
    if len(users) > SAMPLE_MAX:
        raise ServiceError(f"A preview takes at most {SAMPLE_MAX:,} users.")
    hashed = hash_users(users)
    types = step.match_list_types
    matched = [u.for_types(types) for u in hashed]
    workspace_id = step.canvas.workspace_id
    suppressed = suppressed_among(workspace_id, hashed) if step.action == Step.Action.ADD else set()
    already_in: set[str] = set()
    if step.action == Step.Action.ADD and step.audience_id:
        already_in = ledger.members_with(step.audience_id, {u.external_id: u for u in matched if u.has_any},
                                         pairs_of=attrgetter("identifiers"))
    result = Preview(users=len(hashed), duplicates_folded=hashed.duplicates_folded)
    identifiers_sent = 0
    for user in matched:
        if user.external_id in suppressed:
            result.suppressed += 1
        elif not user.has_any:
            result.no_match_fields += 1
        elif user.external_id in already_in:
            result.already_in_audience += 1
        else:
            result.would_sync += 1
            identifiers_sent += len(user.identifiers)
            if len(result.sample) < HASHES_SHOWN:
                result.sample.append({"external_id": user.external_id,
                                      **{t.lower(): h for t, h in sorted(user.identifiers)}})
    result.volume = volume if volume is not None else len(hashed)
    if result.users and identifiers_sent:
        per_user = identifiers_sent / result.users
        result.requests = math.ceil(result.volume * per_user / settings.SYNC_BATCH_SIZE)
        result.seconds = round(result.requests / settings.SYNC_RATE_LIMIT_PER_SECOND, 2)
    return result
