"""Pinterest's size of an audience over time, and what explains it: the only writer of AudienceSize.

Each read of an audience on Pinterest (the lifecycle sweep, or a marketer's
"Refresh now") records a reading beside what the ledger held as sent at that
moment. The sentence a page shows compares Pinterest's figure with what was
sent *in Pinterest's unit*: a customer-list audience counts identifiers
(emails, IDFAs, Android ad ids), not users, so a user sent with an email and
an IDFA counts twice there (DESIGN.md rule 8: the page says why a figure
differs and when it was measured).

Every figure is read from counts moved with the records (StepSent, StepHour,
the ledger's member count), never from the records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Sum
from django.utils import timezone

from audiences.models import EMAIL, IDFA, MAID, Audience, AudienceSize, Step, StepHour, StepSent
from audiences.sending import ledger

# A reading equal to the last one is kept only if the last is older than this: a waiting audience is read
# every minute, and a row a minute would grow with time rather than with what changed (rule 11).
SAME_READING_KEPT_EVERY = timedelta(hours=1)
# Pinterest needs about this many matched users before it shows or targets a customer-list audience.
MATCH_MINIMUM = 100
TYPE_WORDS = {EMAIL: ("email", "emails"), IDFA: ("iOS IDFA", "iOS IDFAs"), MAID: ("Android ad id", "Android ad ids")}
MATCHING = "matching takes 24–48 hours"


def audience_size_record(*, audience_id: int, size: int | None, pinterest_status: str,
                         now: datetime | None = None) -> AudienceSize | None:
    """Record one reading of the audience on Pinterest (None when it repeats the last recent one)."""
    now = now or timezone.now()
    last = AudienceSize.objects.filter(audience_id=audience_id).order_by("-measured_at", "-id").first()
    if (last is not None and last.size == size and last.pinterest_status == (pinterest_status or "")
            and last.measured_at > now - SAME_READING_KEPT_EVERY):
        return None
    return AudienceSize.objects.create(audience_id=audience_id, measured_at=now, size=size,
                                       pinterest_status=pinterest_status or "", members=ledger.member_count(audience_id))


def size_history(audience: Audience, *, limit: int = 20) -> list[AudienceSize]:
    """The audience's latest readings, newest first (one index range)."""
    return list(AudienceSize.objects.filter(audience=audience).order_by("-measured_at", "-id")[:limit])


@dataclass(frozen=True)
class SizeFacts:
    """What the sentence compares: Pinterest's reading and what was sent from here."""

    size: int | None  # Pinterest's count; None before Pinterest gives one
    measured_at: datetime | None
    members: int  # users the ledger holds in the audience now
    added: dict[str, int] = field(default_factory=dict)  # list type -> synced users of add steps carrying it
    removed: dict[str, int] = field(default_factory=dict)  # list type -> synced users of remove steps carrying it
    removed_users: int = 0
    members_when_read: int | None = None  # users the ledger held when Pinterest's figure was read (None: unknown)
    existing: bool = False  # picked on Pinterest, not created here: it may hold identifiers sent elsewhere

    @property
    def identifiers(self) -> dict[str, int]:
        """Identifiers sent from here and not removed since, per type."""
        return {t: max(self.added.get(t, 0) - self.removed.get(t, 0), 0) for t in (EMAIL, IDFA, MAID)}


def size_facts(audience: Audience) -> SizeFacts:
    """Read the facts for one audience: a few count rows, whatever its size."""
    sent = (StepSent.objects.filter(step__audience=audience)
            .values_list("step__action", "list_type").annotate(n=Sum("n")))
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    for action, list_type, n in sent:
        target = removed if action == Step.Action.REMOVE else added
        target[list_type] = target.get(list_type, 0) + n
    removals = StepHour.objects.filter(step__audience=audience, step__action=Step.Action.REMOVE, synced__gt=0)
    removed_users = removals.aggregate(users=Sum("synced"))["users"] or 0
    reading = AudienceSize.objects.filter(audience=audience).order_by("-measured_at", "-id").first()
    return SizeFacts(
        size=audience.pinterest_size,
        measured_at=audience.checked_at,
        members=ledger.member_count(audience.pk),
        added=added,
        removed=removed,
        removed_users=removed_users,
        members_when_read=reading.members if reading is not None else None,
        existing=audience.source == Audience.Source.EXISTING,
    )


def number(n: int) -> str:
    return f"{n:,}"


def plural(n: int, one: str, many: str) -> str:
    return f"{number(n)} {one if n == 1 else many}"


def when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return timezone.localtime(moment).strftime("%-d %b %Y, %H:%M %Z")


def _identifier_words(identifiers: dict[str, int]) -> str:
    parts = [plural(n, *TYPE_WORDS[t]) for t, n in identifiers.items() if n]
    if len(parts) <= 1:
        return parts[0] if parts else "no identifiers"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def size_sentence(facts: SizeFacts) -> str:
    """Why Pinterest's figure is what it is, in plain words, with when it was measured."""
    size, members = facts.size, facts.members
    identifiers = facts.identifiers
    total = sum(identifiers.values())
    measured = f"Pinterest's figure was read {when(facts.measured_at)}."
    before = facts.members_when_read
    if before is not None and before != members and size is not None:
        # Users were added or removed since the reading: say so rather than compare unlike figures.
        measured = (f"Pinterest's figure was read {when(facts.measured_at)}, when {plural(before, 'user was', 'users were')} "
                    f"in the audience; it does not count the changes since (refresh to read it again).")

    if members == 0 and facts.removed_users:
        emptied = (f"Every user sent to this audience from here has been removed again "
                   f"({plural(facts.removed_users, 'user', 'users')} removed by a remove step).")
        if size is None:
            return (f"{emptied} Pinterest shows no size for it now: it holds fewer than about {MATCH_MINIMUM} matched "
                    f"identifiers. {measured}")
        if size == 0:
            return f"{emptied} Pinterest counts it empty. {measured}"
        if before:
            return (f"{emptied} Pinterest's count of {number(size)} was read {when(facts.measured_at)}, before the "
                    "latest removals; refresh to read it again.")
        if facts.existing:
            return (f"{emptied} Pinterest still counts {number(size)} identifiers: this audience existed on Pinterest "
                    f"before this service used it, and holds identifiers sent from elsewhere. {measured}")
        return (f"{emptied} Pinterest still counted {number(size)} identifiers: its count follows removals once it "
                f"has processed them, which can take up to 48 hours. {measured}")

    if size is None:
        if members == 0:
            return "Nothing has been sent to this audience yet."
        if members < MATCH_MINIMUM:
            # Waiting cannot fix this one: say so, and what it needs.
            return (f"Only {plural(members, 'user has', 'users have')} been sent. Fewer than about {MATCH_MINIMUM} "
                    "matched users cannot be targeted on Pinterest, so this audience needs more users: at least "
                    f"{number(MATCH_MINIMUM - members)} more, and more still as not every user matches a Pinterest "
                    "account. Waiting will not fill it.")
        return (f"{plural(members, 'user was', 'users were')} sent ({_identifier_words(identifiers)}). Pinterest shows "
                f"the audience's size once about {MATCH_MINIMUM} of them match Pinterest accounts; {MATCHING}.")

    head = f"Pinterest counts {plural(size, 'identifier', 'identifiers')}, not users."
    unit = (f"The {plural(members, 'user', 'users')} in this audience carried {_identifier_words(identifiers)} "
            f"({number(total)} in all).")
    if size == total:
        return f"{head} {unit} {measured}"
    if size < total:
        return (f"{head} {unit} Not every identifier belongs to a Pinterest account, and {MATCHING} for the latest, "
                f"so Pinterest's figure is smaller. {measured}")
    if facts.existing:
        return f"{head} {unit} The rest were in this audience before this service used it, or were sent from elsewhere. {measured}"
    return (f"{head} {unit} Pinterest's figure is larger because it has not yet processed the latest removals, or "
            f"counts identifiers sent to this audience's list from elsewhere. {measured}")
