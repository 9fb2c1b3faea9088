import re
from typing import Annotated

from pydantic import AfterValidator, Field

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (newlines, tabs, escapes...)")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# A name a person gives: shown in tables, legends and file names.
Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control_characters)]

# Every report of a worker (heartbeat, points, artifacts, finish, release) carries the attempt its
# claim returned: its lease. A report of an execution that is no longer the run's current one gets 409.
LeaseAttempt = Annotated[
    int, Field(ge=1, le=2**31 - 1, description="The attempt this worker claimed (its lease): a stale one gets 409")
]
