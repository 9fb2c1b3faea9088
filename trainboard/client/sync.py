"""`trainboard sync DIR [DIR ...]`: send run folders (offline runs, points a run could not deliver)
to the API.

For each run folder: create its run if it has no id yet (`POST /runs/track` with the folder's
client_key, so a run an interrupted sync created is found again) or take a lease on it
(`POST /runs/{id}/resume`); then send its points in batches, its artifacts, its end (finish.json,
or failed "the script stopped reporting" without one) and write synced.json. A folder with
synced.json is skipped, and the API ignores the points it already has (same name and step): syncing
twice stores nothing twice."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from trainboard.client.api import Api, ApiRefused, ApiUnreachable, default_url
from trainboard.client.folder import NotARunFolder, RunFolder
from trainboard.limits import MAX_POINTS_PER_BATCH, SCRIPT_LOST

TRACKED_FIELDS = ("name", "group", "config", "client_key", "host", "environment")


class SyncError(Exception):
    """A folder that could not be synced, with the reason in one line."""


def run_folders(paths: Iterable[Path]) -> list[Path]:
    """Each path if it is a run folder (it holds run.json), else the run folders right under it."""
    found: list[Path] = []
    for path in paths:
        if (path / "run.json").is_file():
            found.append(path)
        elif path.is_dir():
            inside = sorted(child for child in path.iterdir() if (child / "run.json").is_file())
            if not inside:
                raise SyncError(f"{path}: no run folder here (a run folder holds run.json)")
            found.extend(inside)
        else:
            raise SyncError(f"{path}: no such folder")
    return found


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _points_body(attempt: int, points: list[tuple[str, int, float | None, float]]) -> bytes:
    listed = [{"name": n, "step": s, "value": v, "wall_time": w} for n, s, v, w in points]
    return json.dumps({"attempt": attempt, "points": listed}).encode()


def sync_folder(api: Api, folder: RunFolder, *, host: str | None = None) -> str:
    """Send one run folder; returns the line that says what was done. ApiUnreachable or ApiRefused
    when the API failed it: the folder is left as it was, ready for another try."""
    synced = folder.read_synced()
    if synced is not None:
        return f"already synced as run {synced.get('run_id')}"
    meta = folder.meta
    if meta.get("run_id") is None:
        run = api.track({field: meta.get(field) for field in TRACKED_FIELDS})
        folder.set_run_id(run["id"])
        if not run.get("created", True):  # created by an earlier sync that did not end: take it over
            run = api.resume(run["id"], host)
    else:
        run = api.resume(meta["run_id"], host)
    run_id, attempt = run["id"], run["attempt"]

    sent = skipped = offset = 0
    while True:
        points, offset, bad = folder.read_points(offset, MAX_POINTS_PER_BATCH)
        skipped += bad
        if not points:
            break
        api.post_points(run_id, _points_body(attempt, points), timeout=60.0)
        sent += len(points)
    artifacts = folder.artifacts()
    for name, path in artifacts:
        api.put_artifact(run_id, name, attempt, path.read_bytes(), timeout=120.0)
    end = folder.read_finish() or {
        "status": "failed",
        "error": f"{SCRIPT_LOST}: its run folder has no end (synced by trainboard sync)",
    }
    api.finish(run_id, attempt, end["status"], end.get("error"))
    folder.write_synced(run_id, sent)
    line = f"run {run_id}: {_plural(sent, 'point')}, {_plural(len(artifacts), 'artifact')}, {end['status']}"
    return line + (f" ({_plural(skipped, 'unreadable line')} skipped)" if skipped else "")


def sync(paths: Sequence[Path], *, url: str | None = None, token: str | None = None) -> int:
    """Sync each run folder under `paths`, one line printed per folder; 0 if all went well, else 1.
    The API is `url`, else TRAINBOARD_API_URL, else the one each folder was written for."""
    try:
        folders = run_folders(paths)
    except SyncError as exc:
        print(f"trainboard sync: {exc}", file=sys.stderr)
        return 1
    apis: dict[str, Api] = {}
    failed = 0
    try:
        for path in folders:
            try:
                folder = RunFolder.open(path)
                target = url or os.environ.get("TRAINBOARD_API_URL") or folder.meta.get("url") or default_url()
                if target not in apis:
                    apis[target] = Api(target, token, timeout=30.0)
                print(f"{path}: {sync_folder(apis[target], folder, host=folder.meta.get('host'))}", flush=True)
            except (NotARunFolder, OSError) as exc:
                failed += 1
                print(f"trainboard sync: {exc}", file=sys.stderr)
            except ApiUnreachable as exc:
                failed += 1
                print(f"trainboard sync: {path}: {exc}; try again when the API is up", file=sys.stderr)
            except ApiRefused as exc:
                failed += 1
                print(f"trainboard sync: {path}: the API refused it: {exc}", file=sys.stderr)
    finally:
        for api in apis.values():
            api.close()
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """`trainboard sync DIR [DIR ...]`; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="trainboard sync",
        description="Send run folders (offline runs, points a run could not deliver) to the trainboard API. "
        "Syncing a folder twice stores nothing twice.",
    )
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="a run folder, or a folder of run folders")
    parser.add_argument("--url", help="the API (default: TRAINBOARD_API_URL, else the URL the run was written for)")
    parser.add_argument("--token", help="the API token (default: TRAINBOARD_API_TOKEN)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has printed
        return int(exc.code or 0)
    return sync(args.dirs, url=args.url, token=args.token)


if __name__ == "__main__":
    sys.exit(main())
