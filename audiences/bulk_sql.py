"""SQL fragments for statements over thousands of values at once.

Compiling one placeholder per value (what `__in` does) is slow for the
1,900 to 10,000 values a batch or an entry call carries, and SQLite caps
the number of parameters; these pass the values as one parameter instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection


def in_values(column: str, values: Sequence) -> tuple[str, object]:
    """`column IN (values)` as SQL and its single parameter."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", list(values)
    return f"{column} IN (SELECT value FROM json_each(%s))", json.dumps(list(values))
