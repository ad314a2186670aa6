"""Finding a person: where one user is in the canvases of some workspaces, looked up by what a marketer typed.

What is typed (an email, a mobile ad id or the partner's external id) is
checked, normalised and hashed by the entry path's own validator
(audiences.services.entries.user_validate, which uses
integrations.pinterest.identifiers), so it finds exactly what entry stored.
The raw value goes no further than this module's first function: it is not
stored, not logged, and the audit event says only which kind was looked up.

How an email or ad id is found without an index by hash on the records
(such an index is a random write for every user entered, and halved the
entry path's throughput): the ledger gives the external ids of everyone
who reached an audience with that identifier (a read of the unique key's
range of each of the workspace's audiences: its cost follows the
population, not history); the records still on their way (pending,
errored) are read by (step, state) and filtered by hash; then the person's
records are read by external id (syncrecord_external_id), at most
MAX_RECORDS. Someone who never reached an audience and is not on their way
(every record not synced, or already expired) is found by external id only,
and the page says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.views.decorators.debug import sensitive_variables

from audiences.models import AudienceMember, PrivacyRequest, Step, SuppressedIdentifier, SyncRecord
from audiences.services.audit import audit_record
from audiences.services.entries import user_validate
from audiences.services.errors import EntryRejected, ServiceError
from audiences.services.suppression_check import external_id_hash, user_hashes
from integrations.models import Workspace
from integrations.pinterest import identifiers

EMAIL, AD_ID, EXTERNAL_ID = "email", "ad_id", "external_id"
KIND_WORDS = {EMAIL: "email", AD_ID: "mobile ad id", EXTERNAL_ID: "external id"}
MAX_RECORDS = 200  # one person's records, newest first; more is a shared test address, not a person

# Recognising an ad id by its shape only; whether it is a valid one is the entry path's check.
_UUID = re.compile(r"\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\s*")


class LookupRejected(ServiceError):
    """What was typed cannot be anyone's email, ad id or external id (the message says why, without the value)."""


@dataclass(frozen=True)
class Probe:
    """What a lookup searches for: hashes, or an external id (which the records keep as the partner sent it)."""

    kind: str
    hashes: frozenset[str] = frozenset()
    external_id: str = ""

    @property
    def kind_words(self) -> str:
        return KIND_WORDS[self.kind]

    def hash_match(self) -> Q:
        """The records' condition for a hash probe (an email: its column; an ad id: either ad id column)."""
        values = sorted(self.hashes)
        if self.kind == EMAIL:
            return Q(email_hash__in=values)
        return Q(idfa_hash__in=values) | Q(maid_hash__in=values)

    def suppression_hashes(self) -> set[str]:
        return set(self.hashes) or {external_id_hash(self.external_id)}


@sensitive_variables()  # an error report shows none of this frame's values (the typed one, normalised)
def probe_of(typed: str) -> Probe:
    """Recognise and hash what was typed: an email has @, an ad id is a UUID, anything else is an external id.

    An ad id is hashed both ways entry hashes one (an iOS IDFA uppercased, an
    Android advertising id lowercased), since the box does not say which it is.
    Raises LookupRejected with the entry path's own reason.
    """
    typed = typed if isinstance(typed, str) else ""
    if not typed.strip():
        raise LookupRejected("Type an email, a mobile ad id or an external id.")
    try:
        if "@" in typed:
            clean = user_validate({"external_id": "-", "email": typed})
            return Probe(EMAIL, frozenset({identifiers.hash_normalised(clean["email"])}))
        if _UUID.fullmatch(typed):
            clean = user_validate({"external_id": "-", "ios_idfa": typed, "android_aid": typed})
            return Probe(AD_ID, frozenset(identifiers.hash_normalised(clean[name])
                                          for name in ("ios_idfa", "android_aid")))
        return Probe(EXTERNAL_ID, external_id=user_validate({"external_id": typed})["external_id"])
    except EntryRejected as exc:
        # The entry path's message names the rule broken, never the value.
        raise LookupRejected(f"Not a valid {_kind_guess(typed)}: {exc.message}") from None


def _kind_guess(typed: str) -> str:
    return KIND_WORDS[EMAIL if "@" in typed else AD_ID if _UUID.fullmatch(typed) else EXTERNAL_ID]


@dataclass
class AudienceFinding:
    audience: object  # audiences.models.Audience
    member: bool  # the ledger holds them in it (Pinterest accepted an add, and no remove since)


@dataclass
class WorkspaceFindings:
    workspace: Workspace
    records: list[SyncRecord] = field(default_factory=list)
    audiences: list[AudienceFinding] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)  # the kinds they are listed by, in words
    privacy_requests: list[PrivacyRequest] = field(default_factory=list)  # pending ones

    @property
    def found(self) -> bool:
        return bool(self.records or self.suppressed or self.privacy_requests)


@dataclass
class PersonLookup:
    probe: Probe
    workspaces: list[WorkspaceFindings]
    capped: bool  # MAX_RECORDS were shown; there are more


@sensitive_variables("typed")
def person_find(*, workspaces: Sequence[Workspace], typed: str) -> PersonLookup:
    """Where the person typed is in these workspaces (the caller's readable ones); one audit event per workspace.

    Raises LookupRejected for what cannot be anyone's identifier (nothing is
    looked up or recorded then).
    """
    probe = probe_of(typed)
    del typed  # from here on only the probe's hashes (or the external id) exist
    by_id = {w.pk: WorkspaceFindings(w) for w in workspaces}
    external_ids = [probe.external_id] if probe.kind == EXTERNAL_ID else _external_ids_of(probe, sorted(by_id))
    records = list(
        SyncRecord.objects.filter(external_id__in=external_ids, step__canvas__workspace_id__in=sorted(by_id))
        .select_related("step__canvas", "step__audience")
        .order_by("-entered_at", "-id")[:MAX_RECORDS + 1]
    ) if external_ids else []
    capped = len(records) > MAX_RECORDS
    for record in records[:MAX_RECORDS]:
        by_id[record.step.canvas.workspace_id].records.append(record)
    for findings in by_id.values():
        _complete(findings, probe)
    with transaction.atomic():
        for findings in by_id.values():
            # Which kind, and whether anyone was found: never the value or its hash.
            audit_record(workspace=findings.workspace, action="person.lookup", target="Find a person",
                         details={"kind": probe.kind, "records_found": len(findings.records)})
    return PersonLookup(probe, list(by_id.values()), capped)


def _external_ids_of(probe: Probe, workspace_ids: list[int]) -> list[str]:
    """Who carries these hashes: from the ledger (everyone who reached an audience) and the records on their way."""
    hashes = sorted(probe.hashes)
    found = set(
        AudienceMember.objects.filter(audience__workspace_id__in=workspace_ids, identifier_hash__in=hashes)
        .values_list("external_id", flat=True)[:MAX_RECORDS]
    )
    steps = list(Step.objects.filter(canvas__workspace_id__in=workspace_ids, kind=Step.Kind.AUDIENCE_SYNC)
                 .values_list("pk", flat=True))
    if steps:
        on_their_way = SyncRecord.objects.filter(
            probe.hash_match(), step_id__in=steps, state__in=[SyncRecord.State.PENDING, SyncRecord.State.ERRORED])
        found |= set(on_their_way.values_list("external_id", flat=True)[:MAX_RECORDS])
    return sorted(found)


def _complete(findings: WorkspaceFindings, probe: Probe) -> None:
    """The audiences, suppression and pending privacy requests of the person in one workspace."""
    records = findings.records
    external_ids = sorted({r.external_id for r in records} | ({probe.external_id} if probe.external_id else set()))
    audiences = {r.step.audience_id: r.step.audience for r in records if r.step.audience_id}
    members = set(
        AudienceMember.objects.filter(audience_id__in=sorted(audiences), external_id__in=external_ids, is_member=True)
        .values_list("audience_id", flat=True)
    ) if audiences else set()
    findings.audiences = [AudienceFinding(audience, pk in members)
                          for pk, audience in sorted(audiences.items(), key=lambda item: item[1].name)]
    hashes = probe.suppression_hashes()
    for record in records:
        hashes |= {value for _, value in user_hashes(record)}
    kinds = SuppressedIdentifier.objects.filter(workspace=findings.workspace, value_hash__in=sorted(hashes))
    words = dict(SuppressedIdentifier.Kind.choices)
    findings.suppressed = sorted({words[kind] for kind in kinds.values_list("kind", flat=True)})
    findings.privacy_requests = list(
        PrivacyRequest.objects.filter(workspace=findings.workspace, status=PrivacyRequest.Status.PENDING,
                                      external_id__in=external_ids)
    ) if external_ids else []
