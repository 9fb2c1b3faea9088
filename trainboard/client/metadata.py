"""What `init()` tells the API about a run besides its points: the default name, the config made
JSON-able, the host and the environment the script runs in."""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
from pathlib import Path, PurePath
from typing import Any

from trainboard.limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH

MAX_ARGS, MAX_ARG_CHARS = 32, 256


def script_path() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.abspath(path) if path else None


def default_name() -> str | None:
    """The running script's file stem (`train` for train.py, `pkg` for `python -m pkg`); None in a REPL
    or a notebook."""
    path = script_path()
    if not path:
        return None
    stem = Path(path).stem
    return Path(path).parent.name if stem == "__main__" else stem  # `python -m package`: the package


def jsonable(value: Any, *, depth: int = 0) -> Any:
    """`value` as JSON can hold it: dicts (keys as str), lists (tuples and sets too), str, bool,
    int, finite float or None; NumPy and tensor scalars become numbers, paths and anything else str."""
    if depth > 50:
        return str(value)
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, int):  # an IntEnum
        return int(value)
    if isinstance(value, str):  # a str Enum: its value, not "Color.RED"
        return str.__str__(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): jsonable(item, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(item, depth=depth + 1) for item in items]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "numel") and hasattr(value, "tolist"):  # a torch.Tensor
        return jsonable(value.tolist(), depth=depth + 1) if value.numel() <= 1000 else str(value)
    if hasattr(value, "tolist") and getattr(value, "size", 2) <= 1000:  # NumPy scalars and small arrays
        return jsonable(value.tolist(), depth=depth + 1)
    return str(value)


def config_of(config: Any) -> dict[str, Any]:
    """The run's config as a JSON object. Anything with vars() (an argparse.Namespace, a dataclass
    instance) gives its attributes; a dict is taken as is. ValueError if the API would refuse it
    (over 64 KiB of JSON, or nested deeper than 20): said at init(), not at a later sync."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        if hasattr(config, "__dataclass_fields__"):
            import dataclasses

            config = dataclasses.asdict(config)
        elif hasattr(config, "__dict__"):
            config = vars(config)
        else:
            raise TypeError(f"config must be a dict, a dataclass or an argparse.Namespace, not {type(config).__name__}")
    made = jsonable(config)
    size = len(json.dumps(made, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"the config is {size} bytes of JSON; the API takes {MAX_CONFIG_BYTES} at most")
    if _depth(made) > MAX_CONFIG_DEPTH:
        raise ValueError(f"the config nests deeper than {MAX_CONFIG_DEPTH} levels, which the API refuses")
    return made


def _depth(value: Any) -> int:
    """How deep objects and lists nest (a flat object is 1), as the API counts it."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def host() -> str:
    return socket.gethostname()


def environment() -> dict[str, Any]:
    """The facts that say how the script ran: Python, the platform, the script and its arguments,
    and torch's version when the script imported torch (never imported here)."""
    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "script": script_path(),
        "argv": [str(arg)[:MAX_ARG_CHARS] for arg in sys.argv[:MAX_ARGS]],  # within the API's 16 KiB
        "cwd": os.getcwd(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        facts["torch"] = getattr(torch, "__version__", None)
    return facts
