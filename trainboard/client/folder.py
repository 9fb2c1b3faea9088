"""A run folder: one format for a run written offline and for the points an online run could not
deliver (its spool), which `trainboard sync` sends later.

    <client dir>/<client_key>/
        run.json       {"format": 1, "client_key", "url", "run_id", "name", "group", "config", "host",
                        "environment", "created_at"}; run_id is null until the API created the run
        points.jsonl   one point a line: [name, step, value, wall_time], value null for NaN and infinities
        artifacts/     files, under their artifact names
        finish.json    {"status", "error"} once the script ended
        synced.json    {"run_id", "points"} once a sync delivered everything

Only one thread of one process writes a folder while its run is alive (the run's delivery thread)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO, Any

FORMAT = 1
ARTIFACT_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")  # the API's rule


def client_dir() -> Path:
    """Where run folders go: TRAINBOARD_CLIENT_DIR, by default ./trainboard-runs."""
    return Path(os.environ.get("TRAINBOARD_CLIENT_DIR") or "trainboard-runs").absolute()


def check_artifact_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"artifact name {name!r} is a {type(name).__name__}, not a str")
    segments = name.split("/")
    if len(segments) > 4 or not all(ARTIFACT_SEGMENT.fullmatch(segment) for segment in segments):
        raise ValueError(
            f"invalid artifact name {name!r}: use up to 4 '/'-separated parts of letters, digits, '_', '-', '.'"
        )
    return name


def _write_json(path: Path, data: Any) -> None:
    """Written whole or not at all: a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(temporary, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


class NotARunFolder(ValueError):
    pass


class RunFolder:
    """A run folder; for an online run it is created only once something has to be written."""

    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.meta = meta  # what run.json holds
        self._appending: IO[str] | None = None  # points.jsonl, open while points are added

    @classmethod
    def for_run(cls, base: Path, meta: dict[str, Any]) -> RunFolder:
        return cls(base / meta["client_key"], {"format": FORMAT, **meta})

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An existing folder; NotARunFolder when it has no readable run.json of a known format."""
        try:
            meta = _read_json(path / "run.json")
        except (OSError, ValueError) as exc:
            raise NotARunFolder(f"{path}: unreadable run.json: {exc}") from None
        if not isinstance(meta, dict) or not meta.get("client_key"):
            raise NotARunFolder(f"{path}: not a run folder (no run.json)")
        if meta.get("format") != FORMAT:
            raise NotARunFolder(f"{path}: run folder format {meta.get('format')!r}, this client reads {FORMAT}")
        return cls(path, meta)

    @property
    def points_file(self) -> Path:
        return self.path / "points.jsonl"

    def create(self) -> None:
        if not (self.path / "run.json").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            _write_json(self.path / "run.json", self.meta)

    def set_run_id(self, run_id: int) -> None:
        self.meta["run_id"] = run_id
        if (self.path / "run.json").exists():
            _write_json(self.path / "run.json", self.meta)

    # --- points ----------------------------------------------------------------------------------

    def append_lines(self, lines: str) -> None:
        """Points as points.jsonl lines (trainboard.client.points.line), at the end of the file."""
        if self._appending is None:
            self.create()
            self._appending = self.points_file.open("a")
        self._appending.write(lines)
        self._appending.flush()

    def close(self) -> None:
        if self._appending is not None:
            self._appending.close()
            self._appending = None

    def clear_points(self) -> None:
        self.close()
        self.points_file.write_bytes(b"")

    def points_size(self) -> int:
        try:
            return self.points_file.stat().st_size
        except FileNotFoundError:
            return 0

    def read_lines(self, offset: int, limit: int) -> tuple[list[str], int]:
        """Up to `limit` lines (without their newlines) from byte `offset`, and the offset after them.
        A last line without its newline is left for later: it is being written, or a crash cut it."""
        lines: list[str] = []
        try:
            handle = self.points_file.open("rb", buffering=2**20)  # few system calls: few GIL hand-overs
        except FileNotFoundError:
            return lines, offset
        with handle:
            handle.seek(offset)
            while len(lines) < limit:
                line = handle.readline()
                if not line.endswith(b"\n"):
                    break
                lines.append(line[:-1].decode())
                offset += len(line)
        return lines, offset

    def read_points(self, offset: int, limit: int) -> tuple[list[tuple[str, int, float | None, float]], int, int]:
        """Up to `limit` points from byte `offset`: (points, the offset after them, how many lines
        were skipped as unreadable)."""
        lines, offset = self.read_lines(offset, limit)
        points, bad = [], 0
        for line in lines:
            try:
                name, step, value, wall_time = json.loads(line)
                points.append((str(name), int(step), None if value is None else float(value), float(wall_time)))
            except (ValueError, TypeError):
                bad += 1
        return points, offset, bad

    def drop_points_before(self, offset: int) -> None:
        """Forget the points before byte `offset` (delivered): the file keeps only the rest."""
        if offset <= 0:
            return
        self.close()
        with self.points_file.open("rb") as handle:
            handle.seek(offset)
            rest = handle.read()
        temporary = self.points_file.with_name("points.jsonl.tmp")
        temporary.write_bytes(rest)
        os.replace(temporary, self.points_file)

    # --- artifacts, finish, sync -------------------------------------------------------------------

    def save_artifact(self, name: str, data: bytes) -> None:
        self.create()
        path = self.path / "artifacts" / Path(*check_artifact_name(name).split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def artifacts(self) -> list[tuple[str, Path]]:
        root = self.path / "artifacts"
        if not root.is_dir():
            return []
        return sorted((path.relative_to(root).as_posix(), path) for path in root.rglob("*") if path.is_file())

    def write_finish(self, status: str, error: str | None) -> None:
        self.create()
        _write_json(self.path / "finish.json", {"status": status, "error": error})

    def read_finish(self) -> dict[str, Any] | None:
        return _read_json(self.path / "finish.json")

    def write_synced(self, run_id: int, points: int) -> None:
        _write_json(self.path / "synced.json", {"run_id": run_id, "points": points})

    def read_synced(self) -> dict[str, Any] | None:
        return _read_json(self.path / "synced.json")
