"""JSON bodies with a size limit, a depth limit and only text that can be stored.

- Past DATA_UPLOAD_MAX_MEMORY_SIZE the answer is 413. DRF reads JSON through
  request.body, where Django enforces the limit (RequestDataTooBig, turned
  into 413 by errors.exception_handler); this parser checks again on the
  stream it gets, so the limit holds whichever way DRF reads the body.
- Nesting deeper than MAX_DEPTH is a 400: no body of this API nests more
  than a few levels, and Python recurses on nesting (json, repr, the
  serializers), so 100,000 "[" would otherwise end in a RecursionError.
- A lone UTF-16 surrogate ("\\ud800" without its pair) anywhere, key or
  value, is a 400 naming where it is: it cannot be encoded as UTF-8, so it
  could be neither stored nor sent nor even echoed in an error.
"""

import json
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from audiences.api.errors import PayloadTooLarge, max_body_bytes

MAX_DEPTH = 32

# A \u escape of a surrogate: the only way a lone one gets into a JSON text
# that decoded as UTF-8. Pairs (an emoji escaped by ensure_ascii) match too;
# the walk below tells them apart.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return self.decode(read_body(stream, parser_context), parser_context)

    def decode(self, raw: bytes, parser_context) -> object:
        """The body's JSON, checked; a ParseError or ValidationError says what is wrong with it."""
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise _too_deep() from None
        except (ValueError, UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from None
        _check(data, surrogates=_SURROGATE_ESCAPE.search(text) is not None)
        return data


def read_body(stream, parser_context) -> bytes:
    """The body's bytes, or 413 past the limit (declared or read)."""
    limit = max_body_bytes()
    request = (parser_context or {}).get("request")
    declared = request.META.get("CONTENT_LENGTH") if request is not None else None
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise PayloadTooLarge(limit)
    return raw


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")


def _too_deep() -> exceptions.ParseError:
    return exceptions.ParseError(f"The body nests deeper than {MAX_DEPTH} levels; no request of this API does.")


def _check(data, *, surrogates: bool) -> None:
    """Depth at most MAX_DEPTH, and (when the text escapes a surrogate) no lone surrogate; without recursing."""
    if not isinstance(data, (dict, list)):
        if surrogates and isinstance(data, str) and _has_lone_surrogate(data):
            _refuse_surrogate("")
        return
    stack: list[tuple[object, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        # Where a value is (its path) is only spelt out for what needs it: 10,000 users of an
        # entry call have 40,000 values.
        if isinstance(value, dict):
            for key, item in value.items():
                if surrogates and _has_lone_surrogate(key):
                    _refuse_surrogate(path or "(top level)", key=True)
                if isinstance(item, (dict, list)):
                    stack.append((item, depth + 1, f"{path}.{key}" if path else key))
                elif surrogates and isinstance(item, str) and _has_lone_surrogate(item):
                    _refuse_surrogate(f"{path}.{key}" if path else key)
        else:
            for index, item in enumerate(value):
                if isinstance(item, (dict, list)):
                    stack.append((item, depth + 1, f"{path}[{index}]"))
                elif surrogates and isinstance(item, str) and _has_lone_surrogate(item):
                    _refuse_surrogate(f"{path}[{index}]")


def _has_lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse_surrogate(path: str, *, key: bool = False) -> None:
    # Named by where it is, never echoed: the value itself cannot be written out.
    what = "A field name" if key else "This text"
    raise exceptions.ValidationError(
        {path or "non_field_errors": [f"{what} holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape): "
                                      f"it is not text; send the character it was meant to be."]}
    )
