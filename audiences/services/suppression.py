"""The workspace's suppression list: the only writer of SuppressedIdentifier.

Whoever is on it is never added to a Pinterest audience of the workspace
(the entry path checks it: audiences.services.suppression_check), and adding
someone takes them out of every audience the ledger says they are in
(a removal request each: audiences.services.erasure). Entries are checked
by the entry path's own validator; only SHA-256 hashes are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from audiences.models import Audience, Step, SuppressedIdentifier, SyncRecord
from audiences.sending import ledger
from audiences.services import erasure
from audiences.services.audit import audit_record
from audiences.services.entries import user_validate
from audiences.services.errors import EntryRejected
from audiences.services.suppression_check import Kind, external_id_hash
from integrations.models import Workspace
from integrations.pinterest import identifiers

MAX_ENTRIES = 5000  # per call; files of any allowed size are listed in parts (audiences.services.imports)

_FIELDS = {"email": Kind.EMAIL, "ios_idfa": Kind.IDFA, "android_aid": Kind.MAID}


@dataclass
class SuppressionResult:
    listed: int = 0  # identifiers new on the list
    already_listed: int = 0
    removals_started: int = 0  # users being taken out of the audiences they are in

    def as_dict(self) -> dict:
        return {"listed": self.listed, "already_listed": self.already_listed,
                "removals_started": self.removals_started}


def suppression_entry_validate(entry: object, *, row: int = 0) -> tuple[str | None, set[tuple[str, str]]]:
    """(the external id if given, the (kind, hash) pairs to list) for one entry; EntryRejected otherwise.

    An entry is what a user of an entry call is, except that external_id is
    optional: any of external_id, email, ios_idfa, android_aid, at least one.
    """
    if not isinstance(entry, dict):
        raise EntryRejected(row, "each entry must be an object with external_id, email, ios_idfa or android_aid")
    has_external_id = entry.get("external_id") not in (None, "")
    clean = user_validate(entry if has_external_id else {**entry, "external_id": "-"}, row=row)
    pairs = {(kind, identifiers.hash_normalised(clean[field])) for field, kind in _FIELDS.items() if field in clean}
    external_id = clean["external_id"] if has_external_id else None
    if external_id is not None:
        pairs.add((Kind.EXTERNAL_ID, external_id_hash(external_id)))
    if not pairs:
        raise EntryRejected(row, "give at least one of external_id, email, ios_idfa, android_aid")
    return external_id, pairs


def _validated(entries: Sequence[object]) -> list[tuple[str | None, set[tuple[str, str]]]]:
    if len(entries) > MAX_ENTRIES:
        raise EntryRejected(MAX_ENTRIES, f"at most {MAX_ENTRIES} entries per call")
    return [suppression_entry_validate(entry, row=index) for index, entry in enumerate(entries)]


def suppression_add(*, workspace: Workspace, entries: Sequence[object]) -> SuppressionResult:
    """Put these people on the list (all or nothing: the first bad entry refuses the call, naming its row).

    Then every user of the workspace the ledger holds with a listed external
    id or identifier, or waiting to be added with one, gets a removal request.
    """
    checked = _validated(entries)
    pairs = {pair for _, found in checked for pair in found}
    external_ids = {external_id for external_id, _ in checked if external_id is not None}
    hashes = {value for kind, value in pairs if kind != Kind.EXTERNAL_ID}
    result = SuppressionResult()
    with transaction.atomic():
        listed = SuppressedIdentifier.objects.filter(workspace=workspace)
        before = listed.count()
        SuppressedIdentifier.objects.bulk_create(
            [SuppressedIdentifier(workspace=workspace, kind=kind, value_hash=value) for kind, value in sorted(pairs)],
            ignore_conflicts=True, batch_size=1000,
        )
        result.listed = listed.count() - before
        result.already_listed = len(pairs) - result.listed
        for external_id in sorted(_users_to_remove(workspace, external_ids, hashes)):
            if erasure.removal_request(workspace=workspace, external_id=external_id):
                result.removals_started += 1
        audit_record(workspace=workspace, action="suppression.add", target="suppression list",
                     details={"entries": len(checked), **result.as_dict()})
    return result


def suppression_remove(*, workspace: Workspace, entries: Sequence[object]) -> int:
    """Take these people off the list (they may be added again from now on). Returns how many identifiers."""
    pairs = {pair for _, found in _validated(entries) for pair in found}
    query = Q()
    for kind, value in pairs:
        query |= Q(kind=kind, value_hash=value)
    with transaction.atomic():
        removed = SuppressedIdentifier.objects.filter(query, workspace=workspace).delete()[0] if pairs else 0
        audit_record(workspace=workspace, action="suppression.remove", target="suppression list",
                     details={"entries": len(entries), "unlisted": removed})
    return removed


def _users_to_remove(workspace: Workspace, external_ids: set[str], hashes: set[str]) -> set[str]:
    """Users of the workspace in an audience (the ledger) or waiting to be added, by external id or identifier."""
    audience_ids = list(Audience.objects.filter(workspace=workspace).values_list("pk", flat=True))
    found = ledger.members_by_hash(audience_ids, hashes) | ledger.members_among(audience_ids, external_ids)
    step_ids = Step.objects.filter(canvas__workspace=workspace)
    waiting = SyncRecord.objects.filter(step_id__in=step_ids, state=SyncRecord.State.PENDING,
                                        action=Step.Action.ADD)
    match = Q(external_id__in=sorted(external_ids)) if external_ids else Q(pk__in=[])
    if hashes:
        values = sorted(hashes)
        match |= Q(email_hash__in=values) | Q(idfa_hash__in=values) | Q(maid_hash__in=values)
    found.update(waiting.filter(match).values_list("external_id", flat=True).distinct())
    return found


def suppression_count(*, workspace: Workspace) -> int:
    return SuppressedIdentifier.objects.filter(workspace=workspace).count()

