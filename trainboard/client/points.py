"""Metric points: the checks `run.log()` makes on the training loop's thread (cheap, and done once
per metric name), and what the delivery thread turns the values it kept into.

The delivery thread writes each call log() queued as lines of text `[name, step, value, wall_time]`,
held in memory in chunks (which give the garbage collector nothing to walk) and in a run folder's
points.jsonl; the API takes `{"name", "step", "value", "wall_time"}`. A value that is NaN or
infinite is null, as the API stores it."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from trainboard.limits import MAX_STEP, METRIC_NAME_PATTERN

NAME_PATTERN = re.compile(METRIC_NAME_PATTERN)
# log() queues a call as a dict of its values plus the step and the wall time, under keys no metric
# name can take: a dict of numbers is not tracked by the garbage collector (a tuple holding it
# would be), and building it is the cheapest thing log() can do with the call.
STEP_KEY = " step"
TIME_KEY = " time"


def _shown(thing: Any, limit: int = 40) -> str:
    if isinstance(thing, str) and len(thing) > limit:
        return repr(thing[:limit] + "...")
    text = repr(thing)
    return text if len(text) <= limit else text[:limit] + "..."


def check_name(name: Any) -> str:
    """The metric name, or ValueError (TypeError for a name that is not a string) saying why."""
    if not isinstance(name, str):
        raise TypeError(f"metric name {_shown(name)} is a {type(name).__name__}, not a str")
    if not NAME_PATTERN.fullmatch(name):
        why = (
            "empty"
            if not name
            else f"{len(name)} characters long, more than 100"
            if len(name) > 100
            else ("not made of A-Za-z0-9_.-/ only")
        )
        raise ValueError(f"metric name {_shown(name)} is {why}")
    return name


def check_step(step: Any) -> int:
    """The step as an int in 0..2**31-1 (NumPy integers are accepted), or TypeError/ValueError."""
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"step {_shown(step)} is a {type(step).__name__}, not an int")
    step = step.__index__()
    if not 0 <= step <= MAX_STEP:
        raise ValueError(f"step {step} is out of range 0..{MAX_STEP}")
    return step


def held_value(name: str, value: Any) -> Any:
    """What log() keeps of a value that is not a plain float or int: a float (NumPy scalars, bools,
    anything with __float__, CPU tensors), or a one-element tensor on an accelerator detached from
    its graph. The latter is read with .item() on the delivery thread, so logging never waits for
    the device. TypeError or ValueError, naming the metric, for anything else."""
    if getattr(value, "detach", None) is not None and hasattr(value, "numel"):  # a torch.Tensor, without torch
        count = value.numel()
        if count != 1:
            raise ValueError(f"metric {name!r}: a tensor of {count} elements; log one number (for example .mean())")
        if value.device.type == "cpu":
            return float(value.item())  # cheap, and safe if the caller changes the tensor in place later
        return value.detach()
    if isinstance(value, str | bytes | bytearray) or value is None:
        raise TypeError(f"metric {name!r}: {_shown(value)} is a {type(value).__name__}, not a number")
    try:
        return float(value)
    except OverflowError:  # an int too large for a float
        return math.inf
    except (TypeError, ValueError) as exc:
        if getattr(value, "size", None) == 1 and hasattr(value, "item"):  # a NumPy array of one element
            return held_value(name, value.item())
        raise TypeError(f"metric {name!r}: {_shown(value)} ({type(value).__name__}) is not a number: {exc}") from None


def to_float(value: Any) -> float | None:
    """A kept value as JSON takes it: a finite float, or None for NaN and infinities. A tensor kept
    on its device is read here, on the delivery thread."""
    if type(value) is not float:
        try:
            value = float(value.item()) if hasattr(value, "item") else float(value)
        except Exception:  # a tensor whose device failed since: nothing else to report
            return None
    return value if value - value == 0.0 else None


def line(name: str, step: int, value: float | None, wall_time: str) -> str:
    """One point as a points.jsonl line. Checked names need no escaping, and Python writes a finite
    float as JSON reads it; `wall_time` is given as text, written once for all the points of a call."""
    written = "null" if value is None or value - value != 0.0 else repr(value)  # NaN - NaN, inf - inf: NaN
    return f'["{name}",{step},{written},{wall_time}]\n'


def lines_of(logged: dict[str, Any]) -> tuple[int, str]:
    """A queued log() call as points.jsonl lines: (how many points, the text)."""
    step, wall_time = logged.pop(STEP_KEY), repr(logged.pop(TIME_KEY))
    lines = [line(name, step, to_float(value), wall_time) for name, value in logged.items()]
    return len(lines), "".join(lines)


def api_points(lines: list[str]) -> str:
    """points.jsonl lines (without their newlines) as the API's points, in JSON, without the brackets
    around the list."""
    points = json.loads("[" + ",".join(lines) + "]")
    return json.dumps([{"name": n, "step": s, "value": v, "wall_time": w} for n, s, v, w in points])[1:-1]
