"""Pinterest's ids and the paths built from them: nothing a caller sends can change which path is called."""

from __future__ import annotations

import re
from urllib.parse import quote

from integrations.pinterest.errors import InvalidId, RequestError


# --- Pinterest ids ------------------------------------------------------------------
# Every object id this service puts in a path is a digit string of at most 18
# characters: openapi-v5.json, components/parameters/path_ad_account_id,
# path_audience_id and path_customer_list_id (`pattern: ^\d+$`, `maxLength: 18`).
# [0-9] and fullmatch, not \d and $: \d takes other scripts' digits and $ a
# trailing newline. User account ids are digit strings too, but longer
# (components/schemas/Account.id, example 2783136121146311751).

ID_MAX_LENGTH = 18
_ID = re.compile(r"[0-9]{1,18}")
_USER_ID = re.compile(r"[0-9]{1,32}")


def is_valid_id(value: object) -> bool:
    """Whether `value` is a Pinterest object id (ad account, audience, customer list)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_valid_user_id(value: object) -> bool:
    """A Pinterest user account id: digits, longer than object ids."""
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def check_id(value: object, what: str = "id") -> str:
    """`value` if it is a Pinterest object id; InvalidId (a RequestError) otherwise.

    The value itself is not put in the message: it came from outside.
    """
    if not is_valid_id(value):
        raise InvalidId(f"The {what} is not a Pinterest id (1 to {ID_MAX_LENGTH} digits); nothing was sent.")
    return value


# A path template names its segments: literal words and {placeholders}, never a
# value pasted in. Each placeholder is filled with a checked, URL-quoted id.
_TEMPLATE = re.compile(r"(/([a-z_]+|\{[a-z_]+\}))+")


def api_path(template: str, **ids: str) -> str:
    """'/ad_accounts/{ad_account_id}/audiences' with every id checked and URL-quoted.

    Raises InvalidId before anything is sent when an id is not a Pinterest
    id, and RequestError when the template is not a plain template (a value
    formatted into it), so no caller can make the client call another path.
    """
    if not _TEMPLATE.fullmatch(template):
        raise RequestError("Refusing a Pinterest path that is not a plain template; nothing was sent.")
    names = re.findall(r"\{([a-z_]+)\}", template)
    if sorted(names) != sorted(ids):
        raise RequestError("The ids given do not fill the Pinterest path; nothing was sent.")
    quoted = {name: quote(check_id(value, name.replace("_", " ")), safe="") for name, value in ids.items()}
    return template.format(**quoted)


