import json
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, Strict

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Bidirectional overrides and isolates: they make a name read otherwise than it is ("Trojan Source").
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _readable_label(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON can carry a lone surrogate ("\\ud800"); no store or page can
        raise ValueError("must be valid Unicode text (a lone surrogate such as \\ud800 is not)") from None
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (newlines, tabs, escapes...)")
    if _BIDI_CONTROL.search(value):
        raise ValueError("must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)")
    if not any(unicodedata.category(char)[0] in "LNPS" for char in value):
        raise ValueError("must contain a visible character (not only spaces or invisible ones)")
    return value


# A name a person gives: shown in tables, legends and file names.
Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_readable_label)]

# Numbers as JSON writes them (issue 12, row 12): an integer field takes no 2.5, "2" or true, a number
# field no "0.5" or false (an integer is a number). The spec's fields: trainboard.catalog.check_spec.
JsonInt = Annotated[int, Strict()]
JsonFloat = Annotated[float, Strict()]

# Every report of a worker (heartbeat, points, artifacts, finish, release) carries the attempt its
# claim returned: its lease. A report of an execution that is no longer the run's current one gets 409.
LeaseAttempt = Annotated[
    int, Field(ge=1, le=2**31 - 1, description="The attempt this worker claimed (its lease): a stale one gets 409")
]
BodyLeaseAttempt = Annotated[LeaseAttempt, Strict()]  # in a JSON body; a query parameter is text


def json_depth(value: Any, limit: int) -> int:
    """How deep objects and lists nest in `value` (a flat object is 1), counted no further than
    limit + 1: without recursion, so a hostile body cannot exhaust the stack."""
    deepest, level = 0, [value]
    while level and deepest <= limit:
        containers = [item for item in level if isinstance(item, (dict, list))]
        if not containers:
            break
        deepest += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def json_within(*, max_bytes: int, max_depth: int) -> Callable[[Any], Any]:
    """A validator for a free-form JSON field (a script's config): standard JSON (no NaN or
    infinity, which the databases' JSON columns refuse), at most `max_bytes` written compactly,
    nested at most `max_depth` deep."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        if json_depth(value, max_depth) > max_depth:
            raise ValueError(f"nests deeper than {max_depth} levels")
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise ValueError("must be standard JSON: NaN and infinities are not allowed (send null)") from None
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise ValueError(f"is {size} bytes of JSON; at most {max_bytes} are allowed")
        return value

    return check


class ErrorDetail(BaseModel):
    """Every refusal but a validation error (422): what went wrong, in words."""

    detail: str | list[Any] = Field(examples=["run 7 not found"])
