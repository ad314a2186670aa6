"""What the analytics page says about Pinterest's size of an audience: in Pinterest's unit, with when it was read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from audiences.models import EMAIL, IDFA, MAID
from audiences.services.sizes import SizeFacts, size_sentence

READ = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)


def test_it_counts_identifiers_not_users_for_users_with_several_identifiers():
    facts = SizeFacts(size=6_070, measured_at=READ, members=4_923, added={EMAIL: 4_900, IDFA: 715, MAID: 455})
    sentence = size_sentence(facts)
    assert sentence.startswith("Pinterest counts 6,070 identifiers, not users. The 4,923 users in this audience")
    assert "4,900 emails, 715 iOS IDFAs and 455 Android ad ids (6,070 in all)" in sentence
    assert "outside" not in sentence and "elsewhere" not in sentence
    assert "read 7 Dec 2026, 09:30 UTC" in sentence


def test_a_smaller_figure_is_explained_by_matching():
    sentence = size_sentence(SizeFacts(size=3_000, measured_at=READ, members=4_000, added={EMAIL: 4_000}))
    assert "Not every identifier belongs to a Pinterest account" in sentence
    assert "24–48 hours" in sentence


def test_an_audience_emptied_by_a_remove_step_says_so():
    facts = SizeFacts(size=400, measured_at=READ, members=0, added={EMAIL: 400}, removed={EMAIL: 400},
                      removed_users=400, members_when_read=400)
    sentence = size_sentence(facts)
    assert "Every user sent to this audience from here has been removed again (400 users removed" in sentence
    assert "before the latest removals" in sentence
    assert "outside" not in sentence

    read_after = SizeFacts(size=None, measured_at=READ + timedelta(hours=1), members=0, added={EMAIL: 400},
                           removed={EMAIL: 400}, removed_users=400, members_when_read=0)
    assert "Pinterest shows no size for it now" in size_sentence(read_after)
    assert "before the latest removals" not in size_sentence(read_after)


def test_a_figure_read_before_more_users_were_sent_says_so():
    facts = SizeFacts(size=300, measured_at=READ, members=500, added={EMAIL: 500}, members_when_read=300)
    assert "when 300 users were in the audience; it does not count the changes since" in size_sentence(facts)


def test_a_too_small_audience_does_not_look_as_if_it_only_needs_time():
    sentence = size_sentence(SizeFacts(size=None, measured_at=READ, members=60, added={EMAIL: 60}))
    assert "Only 60 users have been sent" in sentence
    assert "Fewer than about 100 matched users cannot be targeted" in sentence
    assert "needs more users: at least 40 more" in sentence
    assert "Waiting will not fill it." in sentence
    assert "24–48 hours" not in sentence


def test_a_larger_figure_on_an_existing_audience_is_what_it_held_before():
    sentence = size_sentence(SizeFacts(size=9_000, measured_at=READ, members=1_000, added={EMAIL: 1_000},
                                       existing=True))
    assert "were in this audience before this service used it" in sentence


@pytest.mark.parametrize("members, expected", [(0, "Nothing has been sent"), (250, "matching takes 24–48 hours")])
def test_before_pinterest_gives_a_size(members, expected):
    assert expected in size_sentence(SizeFacts(size=None, measured_at=None, members=members, added={EMAIL: members}))
