"""The run folder: one format for offline runs and undelivered points, read back by sync."""

from __future__ import annotations

import json

import pytest

from trainboard.client.folder import FORMAT, NotARunFolder, RunFolder, check_artifact_name, client_dir
from trainboard.client.points import line

META = {"client_key": "abc123def456", "url": "http://api", "run_id": None, "name": "n", "group": None,
        "config": {"lr": 0.1}, "host": "h", "environment": {}, "created_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip


def test_the_default_client_dir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRAINBOARD_CLIENT_DIR", raising=False)
    assert client_dir() == tmp_path / "trainboard-runs"
    monkeypatch.setenv("TRAINBOARD_CLIENT_DIR", "elsewhere")
    assert client_dir() == tmp_path / "elsewhere"


def test_a_folder_exists_only_once_written_and_reads_back(tmp_path):
    folder = RunFolder.for_run(tmp_path, dict(META))
    assert folder.path == tmp_path / "abc123def456" and not folder.path.exists()
    folder.append_lines(line("loss", 0, 0.5, "1.0") + line("loss", 1, float("nan"), "2.0"))
    folder.save_artifact("plots/loss.png", b"png")
    folder.write_finish("failed", "ValueError: boom")
    folder.set_run_id(12)
    folder.close()

    assert json.loads((folder.path / "run.json").read_text()) == {**META, "format": FORMAT, "run_id": 12}
    assert (folder.path / "points.jsonl").read_text() == '["loss",0,0.5,1.0]\n["loss",1,null,2.0]\n'
    again = RunFolder.open(folder.path)
    assert again.meta["run_id"] == 12
    assert again.read_points(0, 100) == ([("loss", 0, 0.5, 1.0), ("loss", 1, None, 2.0)], 39, 0)
    assert again.artifacts() == [("plots/loss.png", folder.path / "artifacts" / "plots" / "loss.png")]
    assert again.read_finish() == {"status": "failed", "error": "ValueError: boom"}
    assert again.read_synced() is None
    again.write_synced(12, 2)
    assert RunFolder.open(folder.path).read_synced() == {"run_id": 12, "points": 2}


def test_reading_points_in_pieces_skips_bad_lines_and_leaves_a_cut_line(tmp_path):
    folder = RunFolder.for_run(tmp_path, dict(META))
    written = line("a", 0, 1.0, "1") + "not json\n" + '["a", 1, 2.0, 1]\n' + line("a", 2, 3.0, "1") + '["a",3'
    folder.append_lines(written)
    points, offset, bad = folder.read_points(0, 2)
    assert points == [("a", 0, 1.0, 1.0)] and bad == 1
    points, offset, bad = folder.read_points(offset, 10)
    assert points == [("a", 1, 2.0, 1.0), ("a", 2, 3.0, 1.0)] and bad == 0
    assert folder.read_points(offset, 10) == ([], offset, 0)  # the cut line waits for its end


def test_dropping_delivered_points_keeps_the_rest_and_appending_goes_on(tmp_path):
    folder = RunFolder.for_run(tmp_path, dict(META))
    folder.append_lines(line("a", 0, 1.0, "1") + line("a", 1, 2.0, "1"))
    _, offset = folder.read_lines(0, 1)
    folder.drop_points_before(offset)
    folder.append_lines(line("a", 2, 3.0, "1"))
    assert [p[1] for p in folder.read_points(0, 10)[0]] == [1, 2]
    folder.clear_points()
    folder.append_lines(line("a", 3, 4.0, "1"))
    assert [p[1] for p in folder.read_points(0, 10)[0]] == [3]


def test_what_is_not_a_run_folder(tmp_path):
    with pytest.raises(NotARunFolder, match="no run.json"):
        RunFolder.open(tmp_path)
    (tmp_path / "run.json").write_text('{"format": 99, "client_key": "k"}')
    with pytest.raises(NotARunFolder, match="format 99"):
        RunFolder.open(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(NotARunFolder, match="unreadable"):
        RunFolder.open(tmp_path)


@pytest.mark.parametrize("name", ["../x", "a/../../b", "/abs", "a//b", ".hidden", "a b", "1/2/3/4/5", ""])
def test_artifact_names_that_could_leave_the_folder_are_refused(name):
    with pytest.raises(ValueError, match="invalid artifact name"):
        check_artifact_name(name)
