"""`trainboard sync` without a real API: which folders it finds, what it sends in which order, the
lines it prints and its exit code. Against the real API: tests/client/test_live.py."""

from __future__ import annotations

import json

import pytest

from tests.client.fakes import FakeApi
from tests.utils.live_server import free_port
from trainboard.client.folder import RunFolder
from trainboard.client.points import line
from trainboard.client.sync import main, run_folders, sync_folder
from trainboard.limits import SCRIPT_LOST


def offline_folder(base, key: str, *, steps: int = 3, finish: dict | None = None, run_id: int | None = None):
    meta = {"client_key": key, "url": "http://127.0.0.1:1", "run_id": run_id, "name": "n", "group": None}
    folder = RunFolder.for_run(base, {**meta, "config": {}, "host": "h", "environment": {}})
    folder.create()
    folder.append_lines("".join(line("loss", step, step / 10, "5.0") for step in range(steps)))
    folder.close()
    if finish:
        folder.write_finish(finish["status"], finish.get("error"))
    return folder


def test_run_folders_are_found_in_the_paths_given(tmp_path):
    one = offline_folder(tmp_path / "runs", "aaaaaaaa").path
    two = offline_folder(tmp_path / "runs", "bbbbbbbb").path
    (tmp_path / "runs" / "not-a-run").mkdir()
    assert run_folders([one]) == [one]
    assert run_folders([tmp_path / "runs"]) == [one, two]


def test_a_folder_is_sent_whole_then_marked_synced(tmp_path):
    api = FakeApi()
    folder = offline_folder(tmp_path, "aaaaaaaa", steps=25_000, finish={"status": "completed"})
    folder.save_artifact("plot.png", b"png")
    assert sync_folder(api, folder) == "run 7: 25000 points, 1 artifact, completed"
    assert api.batches == [10_000, 10_000, 5_000] and [step for _, step, _ in api.points] == list(range(25_000))
    assert api.tracked[0]["client_key"] == "aaaaaaaa" and api.artifacts == {"plot.png": b"png"}
    assert api.finished == {"status": "completed", "error": None}
    assert json.loads((folder.path / "synced.json").read_text()) == {"run_id": 7, "points": 25_000}
    assert json.loads((folder.path / "run.json").read_text())["run_id"] == 7
    again = RunFolder.open(folder.path)
    assert sync_folder(api, again) == "already synced as run 7" and len(api.points) == 25_000


def test_a_folder_without_an_end_fails_its_run_and_a_known_run_is_resumed(tmp_path):
    api = FakeApi()
    folder = offline_folder(tmp_path, "aaaaaaaa", run_id=12)
    assert sync_folder(api, folder) == "run 12: 3 points, 0 artifacts, failed"
    assert api.resumed == 1 and not api.tracked
    assert api.finished["status"] == "failed" and api.finished["error"].startswith(SCRIPT_LOST)


def test_main_prints_a_line_per_folder_and_an_exit_code(tmp_path, capsys):
    offline_folder(tmp_path / "runs", "aaaaaaaa")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main([str(tmp_path / "runs"), "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the API at {url} did not answer" in err and "try again when the API is up" in err
    assert not (tmp_path / "runs" / "aaaaaaaa" / "synced.json").exists()

    assert main([str(tmp_path / "nowhere")]) == 1
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 1  # a folder with no run folder right under it
    assert "no run folder here" in capsys.readouterr().err
    assert main([]) == 2  # argparse's usage error
    assert main(["--help"]) == 0
    assert "DIR" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["{", '{"format": 2, "client_key": "k"}'])
def test_a_broken_run_json_is_one_line_and_the_others_go_on(tmp_path, capsys, content, monkeypatch):
    import trainboard.client.sync as sync_module

    api = FakeApi()
    monkeypatch.setattr(sync_module, "Api", lambda *args, **kwargs: api)
    offline_folder(tmp_path / "runs", "aaaaaaaa", finish={"status": "completed"})
    broken = tmp_path / "runs" / "broken"
    broken.mkdir()
    (broken / "run.json").write_text(content)
    assert main([str(tmp_path / "runs")]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"{tmp_path / 'runs' / 'aaaaaaaa'}: run 7: 3 points, 0 artifacts, completed\n"
    assert captured.err.count("\n") == 1 and "broken" in captured.err
