"""The plugin API (`trainboard.plugins`): what a registration refuses, and how `load_plugins`
finds entry points, skips a broken plugin whole (nothing of it left registered) and keeps the
rest. Plugins are real distributions on sys.path (a dist-info folder with entry_points.txt)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Literal

import pytest

from trainboard import plugins
from trainboard.plugins import DatasetOptions, ModelOptions, load_plugins, register_dataset, register_model
from trainboard.queues import queue_for, queues_of


@pytest.fixture
def registries(monkeypatch):
    """The registries as they are, restored afterwards; the import system forgets the test's modules."""
    import worker.datasets  # noqa: F401  (the built-in entries, registered once per process)
    import worker.zoo  # noqa: F401

    monkeypatch.setattr(plugins, "MODELS", dict(plugins.MODELS))
    monkeypatch.setattr(plugins, "DATASETS", dict(plugins.DATASETS))
    monkeypatch.setattr(plugins, "_REPORT", None)
    before = set(sys.modules)
    yield plugins
    for name in set(sys.modules) - before:
        if name.startswith("plugin_"):
            del sys.modules[name]


def make_distribution(root: Path, dist: str, module: str, source: str, group: str = "trainboard.models") -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nentry = {module}\n")
    (info / "top_level.txt").write_text(module + "\n")


GOOD = """
    from typing import Literal
    from trainboard.plugins import ModelOptions, register_model

    class Options(ModelOptions):
        name: Literal["plugin_good_model"] = "plugin_good_model"
        width: int = 4

    @register_model(options=Options, task="classification", description="good")
    def build(options, input_shape, num_classes):
        raise NotImplementedError
"""

HALF_BROKEN = """
    from typing import Literal
    from trainboard.plugins import ModelOptions, register_model

    class First(ModelOptions):
        name: Literal["plugin_half_first"] = "plugin_half_first"

    @register_model(options=First, task="classification", description="registered, then taken back")
    def build(options, input_shape, num_classes):
        raise NotImplementedError

    class Clash(ModelOptions):
        name: Literal["mlp"] = "mlp"  # a built-in name

    @register_model(options=Clash, task="classification", description="duplicate")
    def build_clash(options, input_shape, num_classes):
        raise NotImplementedError
"""


def test_plugins_load_from_entry_points_and_a_broken_one_is_skipped_whole(registries, tmp_path, monkeypatch):
    make_distribution(tmp_path, "plugin-good", "plugin_good", GOOD)
    make_distribution(tmp_path, "plugin-half", "plugin_half", HALF_BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    report = load_plugins(reload=True)
    assert "plugin-good" in report.packages and "trainboard" in report.packages
    assert [b.package for b in report.broken] == ["plugin-half"]
    assert "model 'mlp' registered twice" in report.broken[0].error
    assert "plugin_good_model" in registries.MODELS
    assert registries.MODELS["plugin_good_model"].package == "plugin-good"
    assert "plugin_half_first" not in registries.MODELS  # taken back with the rest of the broken plugin
    assert registries.MODELS["mlp"].package == "trainboard"  # the built-in is untouched
    assert queue_for(["plugin-good", "trainboard"]) in queues_of(registries.loaded_packages())


def test_registration_refuses_options_a_spec_could_not_select(registries):
    class NoName(ModelOptions):
        name: str  # no default: no spec could pick it

    with pytest.raises(TypeError, match="must default to the model's name"):
        register_model(options=NoName, task="classification", description="")

    class NotOptions:
        name = "x"

    with pytest.raises(TypeError, match="subclass of trainboard.plugins.ModelOptions"):
        register_model(options=NotOptions, task="classification", description="")

    class Required(ModelOptions):
        name: Literal["plugin_required"] = "plugin_required"
        depth: int  # no default

    with pytest.raises(TypeError, match="cannot serve as the options"):
        register_model(options=Required, task="classification", description="")

    class Fine(DatasetOptions):
        name: Literal["plugin_fine"] = "plugin_fine"

    with pytest.raises(ValueError, match="task must be one of"):
        register_dataset(options=Fine, input_shape=(1, 8, 8), num_classes=2, task="regression", description="")
    with pytest.raises(TypeError, match="input_shape"):
        register_dataset(options=Fine, input_shape=(1, 0, 8), num_classes=2, task="classification",
                         description="")(lambda *a: None)


def test_the_plugin_api_imports_no_torch():
    import subprocess

    code = "import sys, trainboard.plugins, trainboard.catalog, trainboard.spec; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
