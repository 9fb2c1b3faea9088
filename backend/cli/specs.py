"""Assembling what `submit` and `study create` send: a YAML or JSON spec file, --model/--dataset/...,
and --set KEY=VALUE assignments by dotted path. The API validates the result (one source of truth);
here it is only assembled."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import click
import yaml

from backend.cli.common import one_line
from trainboard.spec_paths import NotAnObject, set_path

_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def json_ready(item: Any) -> Any:
    """What YAML read, as JSON means it: 1e-3 as a number (YAML 1.1, which PyYAML follows, wants
    a dot: 1.0e-3), dates as text."""
    if isinstance(item, str) and _SCIENTIFIC.match(item):
        return float(item)
    if isinstance(item, (date, datetime)):  # YAML reads 2024-05-01 as a date; JSON has none
        return item.isoformat()
    if isinstance(item, list):
        return [json_ready(x) for x in item]
    if isinstance(item, dict):
        return {k: json_ready(v) for k, v in item.items()}
    return item


def _yaml_value(text: str) -> Any:
    """A --set value as YAML (0.1, 30, true, [256,128], adam), reading 1e-3 as a number too."""
    return json_ready(yaml.safe_load(text) if text.strip() else "")


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`model.hidden_sizes=[256,128]` -> (["model", "hidden_sizes"], [256, 128])."""
    key, sep, raw = text.partition("=")
    keys = key.strip().split(".")
    if keys and keys[0] == "spec" and len(keys) > 1:
        keys = keys[1:]  # spec.learning_rate means learning_rate
    if not sep or not all(k.strip() for k in keys):
        raise click.UsageError(
            f"bad --set {text!r}: expected KEY=VALUE, e.g. learning_rate=0.1 or model.hidden_sizes=[256,128]"
        )
    try:
        value = _yaml_value(raw)
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or exc
        raise click.UsageError(f"bad --set value for {key.strip()}: {one_line(str(reason))}") from None
    return [k.strip() for k in keys], value


def set_entry_name(spec: dict[str, Any], field: str, name: str) -> None:
    """--model NAME and friends: set the entry's name and keep the options given with it."""
    current = spec.get(field)
    if isinstance(current, dict):
        current["name"] = name
    else:
        spec[field] = {"name": name}


def read_spec_file(path: str) -> dict[str, Any]:
    """A YAML or JSON file (JSON is YAML), `-` for stdin, holding a mapping."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read spec file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or exc
        raise click.ClickException(f"invalid YAML in {path}{where}: {one_line(str(reason))}") from None
    if document is None:
        raise click.ClickException(f"spec file {path} is empty")
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise click.ClickException(
            f"spec file {path} must hold a mapping (a TrainSpec, or name/group/spec), not a {kind}"
        )
    return document


def build_submission(
    spec_file: str | None,
    *,
    entries: dict[str, str | None],
    assignments: Iterable[str],
    name: str | None,
    group: str | None,
) -> dict[str, Any]:
    """The body of POST /runs from a spec file, --model/--dataset/..., --set and --name/--group.
    The API validates it (one source of truth); here it is only assembled."""
    body: dict[str, Any] = {"name": None, "group": None, "spec": {}}
    if spec_file is not None:
        document = read_spec_file(spec_file)
        if "spec" in document:  # {"name", "group", "spec"}; a TrainSpec has no field "spec"
            body.update(document)
        else:
            body["spec"] = document
    if not isinstance(body["spec"], dict):
        raise click.ClickException(f"spec file {spec_file}: 'spec' must be a mapping")
    spec = body["spec"]
    for field, entry in entries.items():
        if entry is not None:
            set_entry_name(spec, field, entry)
    for text in assignments:
        keys, value = parse_assignment(text)
        try:
            set_path(spec, keys, value)
        except NotAnObject as exc:
            raise click.UsageError(f"cannot set {exc.path}: {exc.where} is {exc.value!r}, not an object") from None
    if name is not None:
        body["name"] = name
    if group is not None:
        body["group"] = group
    return body
