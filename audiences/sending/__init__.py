"""Sending users to Pinterest.

- `records`: the only writer of sync records (insert, claim, finish, retry,
  expire) and of the sender's work list;
- `ledger`: which identifiers Pinterest holds for each audience;
- `scheduling`: which list is sent next, per Pinterest user;
- `pump`: the long-running task that keeps requests in flight for every due list;
- `delivery`: one batch, from claim to recorded outcome;
- `pinterest`: the only module of `audiences` that talks to integrations.pinterest.
"""
