"""Curves thinned to what a chart can show, so that a comparison of hundreds of long runs is a few
hundred points per curve rather than every step (issue 13).

- One run per curve: M4 (Jugel et al., VLDB 2014): the steps are cut into buckets of equal width
  and each bucket keeps its first, last, lowest and highest point, so the line a chart draws from
  the kept points has the same extremes as the full one. The run's best value (its lowest or
  highest, the earliest of equals) is always one of them, and so are its first and last points.
- Runs averaged into a group's mean: every run keeps the same steps (one every `stride` over the
  steps of all of them, and each run's last step), so the mean at a kept step is over the same runs
  as at full resolution.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence


def m4_indices(steps: Sequence[int], values: Sequence[float | None], max_points: int) -> list[int]:
    """Indices of the points to keep (all of them when there are at most `max_points`, or 0)."""
    count = len(steps)
    if max_points <= 0 or count <= max_points:
        return list(range(count))
    buckets = max(1, max_points // 4)
    first_step, span = steps[0], steps[-1] - steps[0] + 1
    if None not in values:
        return _m4_complete(steps, values, buckets, first_step, span)
    keep = {0, count - 1}
    bucket, low, high, start = -1, -1, -1, 0
    for index, (step, value) in enumerate(zip(steps, values, strict=True)):
        current = (step - first_step) * buckets // span
        if current != bucket:
            if bucket >= 0:
                keep.update((start, index - 1, low, high))
            bucket, low, high, start = current, -1, -1, index
        if value is not None:
            if low < 0 or value < values[low]:
                low = index
            if high < 0 or value > values[high]:
                high = index
    keep.update((start, count - 1, low, high))
    keep.discard(-1)
    return sorted(keep)


def _m4_complete(steps: Sequence[int], values: Sequence[float], buckets: int, first_step: int, span: int) -> list[int]:
    """M4 of a curve without missing values, each stretch found by bisection and its extremes by
    min()/max() over a slice (the earliest of equals, as list.index gives it)."""
    keep = {0, len(steps) - 1}
    start = 0
    for bucket in range(buckets):
        # The first index of the next stretch: steps with (step - first) * buckets // span > bucket.
        end = bisect_left(steps, first_step + -(-(bucket + 1) * span // buckets), start)
        if end > start:
            stretch = values[start:end]
            keep.update((start, end - 1, start + stretch.index(min(stretch)), start + stretch.index(max(stretch))))
        start = end
    return sorted(keep)


def m4_tile_steps(tiles: Sequence[tuple], first_step: int, last_step: int, max_points: int) -> list[int]:
    """The steps M4 keeps of a curve kept as tiles (backend/models/metric.py MetricTile), each
    (first_step, first_value, last_step, last_value, min_step, min_value, max_step, max_value), in
    step order: per bucket of steps (as m4_indices cuts them), the first point of its first tile,
    the last of its last, and the lowest and highest of its tiles' extremes (the earliest of equals).
    A tile belongs to the bucket of its first step; the curve's extremes are always kept."""
    buckets = max(1, max_points // 4)
    span = last_step - first_step + 1
    keep: set[int] = set()
    bucket = None
    first = last = low = high = None  # the open bucket's: steps, and (value, step) of its extremes
    for tile_first, _, tile_last, _, min_step, min_value, max_step, max_value in tiles:
        current = (tile_first - first_step) * buckets // span
        if current != bucket:
            if bucket is not None:
                keep.update(_stretch_steps(first, last, low, high))
            bucket, first, low, high = current, tile_first, None, None
        last = tile_last
        if min_value is not None and (low is None or min_value < low[0]):
            low = (min_value, min_step)
        if max_value is not None and (high is None or max_value > high[0]):
            high = (max_value, max_step)
    if bucket is not None:
        keep.update(_stretch_steps(first, last, low, high))
    return sorted(keep)


def _stretch_steps(first: int, last: int, low: tuple | None, high: tuple | None) -> set[int]:
    return {first, last} | {extreme[1] for extreme in (low, high) if extreme is not None}


def shared_stride(first_step: int, last_step: int, max_points: int) -> int:
    """One step in how many that curves averaged together all keep (1: every step)."""
    if max_points <= 0:
        return 1
    return max(1, math.ceil((last_step - first_step + 1) / max_points))


def stride_indices(steps: Sequence[int], first_step: int, stride: int) -> list[int]:
    """The points at first_step + k * stride, and the last point (a run's final value)."""
    if stride <= 1:
        return list(range(len(steps)))
    keep = [i for i, step in enumerate(steps) if (step - first_step) % stride == 0]
    if steps and (not keep or keep[-1] != len(steps) - 1):
        keep.append(len(steps) - 1)
    return keep
