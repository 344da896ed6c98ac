"""Request bodies read with limits: a size cap and a nesting cap, both checked before the JSON
parser sees the bytes (Python's parser recurses, so thousands of `[` would raise RecursionError).
Used by DRF for every API body and by the provider callbacks, which keep the raw bytes."""

import json
import re
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# A JSON string (with its escapes): brackets inside one do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class BodyRefused(ValueError):
    """The body is too large, too deeply nested or not JSON; `reason` says which."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw`, without parsing it."""
    steps = (_DEPTH_STEP[m[0][0]] for m in _BRACKETS.finditer(_STRING.sub(b"", raw)))
    return max(accumulate(steps, initial=0))


def read_limited(request: HttpRequest) -> bytes:
    """The body, or its first MAX_BODY_BYTES + 1 bytes when it is larger (the stream is not read
    further, so a huge body costs no memory)."""
    limit = settings.MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared <= limit:
        return request.body
    return request.read(limit + 1)


def check_body(raw: bytes) -> None:
    limit, depth = settings.MAX_BODY_BYTES, settings.MAX_JSON_DEPTH
    if len(raw) > limit:
        raise BodyRefused(f"body larger than {limit} bytes", too_large=True)
    if nesting_depth(raw) > depth:
        raise BodyRefused(f"JSON nested deeper than {depth} levels")


def parse_json(raw: bytes) -> Any:
    """The JSON in `raw`, once its size and nesting are known to be within the limits."""
    check_body(raw)
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise BodyRefused(f"not JSON: {exc}"[:120]) from None
    if not _storable(data):
        raise BodyRefused("text with a NUL character or an unpaired surrogate")
    return data


def _storable(value: Any) -> bool:
    """Whether every string (keys included) can be stored as text: PostgreSQL refuses NUL, and
    no database takes the lone surrogates that JSON's escapes can spell."""
    if isinstance(value, str):
        return not _UNSTORABLE.search(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser behind the same limits as the callbacks: 413 for a body over the size
    limit, 400 for one nested too deeply or not JSON (NaN and Infinity included)."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        raw = stream.read(settings.MAX_BODY_BYTES + 1) if stream is not None else b""
        try:
            return parse_json(raw)
        except BodyRefused as exc:
            if exc.too_large:
                limit = settings.MAX_BODY_BYTES
                raise BodyTooLarge(f"The request body is larger than {limit} bytes.") from None
            raise ParseError(f"Unreadable JSON: {exc.reason}.") from None
