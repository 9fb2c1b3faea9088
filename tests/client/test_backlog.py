"""The backlog of undelivered points: memory up to its bound, the oldest beyond it in the spool,
batches in the order the points were logged, and what is left saved for `trainboard sync`."""

from __future__ import annotations

from trainboard.client.backlog import Backlog
from trainboard.client.folder import RunFolder
from trainboard.client.points import line


def chunk(steps: range) -> tuple[int, str]:
    return len(steps), "".join(line("loss", step, step / 2, "1.0") for step in steps)


def steps_of(lines: list[str]) -> list[int]:
    return [int(text.split(",")[1]) for text in lines]


def backlog(tmp_path, max_buffer: int) -> Backlog:
    return Backlog(RunFolder.for_run(tmp_path, {"client_key": "k" * 16}), max_buffer)


def test_memory_holds_the_newest_points_up_to_its_bound(tmp_path):
    kept = backlog(tmp_path, max_buffer=250)
    for start in range(0, 1000, 100):
        kept.add(*chunk(range(start, start + 100)))
        kept.spill()
    assert kept.in_memory == 200 and kept.spooled == 800 and len(kept) == 1000
    assert steps_of(kept.folder.read_lines(0, 10_000)[0]) == list(range(800))  # the oldest, in order


def test_batches_come_from_the_spool_first_then_memory_in_order(tmp_path):
    kept = backlog(tmp_path, max_buffer=300)
    for start in range(0, 1000, 100):
        kept.add(*chunk(range(start, start + 100)))
        kept.spill()
    delivered = []
    while (batch := kept.next_batch(250)).lines:
        assert len(batch.lines) <= 250
        delivered.extend(steps_of(batch.lines))
        kept.delivered(batch)
        if len(delivered) == 500:  # more points while the spool is being delivered: they come last
            kept.add(*chunk(range(1000, 1100)))
            kept.spill()
    assert delivered == list(range(1100)) and len(kept) == 0
    assert kept.folder.points_file.read_text() == ""  # a delivered spool is emptied


def test_a_batch_not_delivered_comes_again(tmp_path):
    kept = backlog(tmp_path, max_buffer=0)
    kept.add(*chunk(range(10)))
    kept.spill()
    first = kept.next_batch(4)
    assert steps_of(first.lines) == [0, 1, 2, 3]
    assert steps_of(kept.next_batch(4).lines) == [0, 1, 2, 3]  # the API did not take it: same again
    kept.delivered(first)
    assert steps_of(kept.next_batch(100).lines) == list(range(4, 10))


def test_save_keeps_only_what_was_not_delivered(tmp_path):
    kept = backlog(tmp_path, max_buffer=100)
    for start in range(0, 400, 100):
        kept.add(*chunk(range(start, start + 100)))
        kept.spill()
    kept.delivered(kept.next_batch(150))
    assert kept.save() == 250
    points, _, _ = kept.folder.read_points(0, 10_000)
    assert [step for _, step, _, _ in points] == list(range(150, 400))
