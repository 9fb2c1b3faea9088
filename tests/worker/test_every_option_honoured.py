"""Every field of a spec, for each model framework (torch: "mlp"; NumPy: "mlp_numpy"), and every
option of the synthetic datasets, is either refused with the field's name or honoured: a short
run with the value differs from the run without it in the way the option promises. The tables
are keyed by the fields themselves, so a new field without an entry fails here.

Each entry says what it checks. Where the effect cannot be seen on a CPU-only machine, the entry
checks what can be: `device` (the run reports the device it ran on, and a GPU that is not there
is a clear error), `deterministic` (deterministic algorithms are on while the run trains),
`channels_last` (the model gets its inputs in that memory format).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from tests.utils.dataset_files import write_cifar10
from tests.worker.test_engine import Recorder
from trainboard.metrics import best_epoch
from trainboard.plugins import DATASETS
from trainboard.spec import TrainSpec
from worker.engine.loop import train
from worker.engine.spec import EngineSpec

MODELS = {"torch": {"name": "mlp", "hidden_sizes": [16]}, "numpy": {"name": "mlp_numpy", "hidden_sizes": [16]}}
DATASET = {"name": "synthetic_cifar10", "num_train": 40, "num_test": 20}  # 3 channels: channels_last shows
TIMES = {"epoch_seconds", "samples_per_second", "peak_memory_mb"}


def spec_of(framework: str, **fields) -> dict:
    return {"model": MODELS[framework], "dataset": DATASET, "learning_rate": 0.1, "epochs": 1, "batch_size": 10,
            **fields}


def run(spec: dict, data_dir, recorder: Recorder | None = None):
    recorder = recorder or Recorder()
    result = train(EngineSpec.model_validate(spec), recorder, data_dir=data_dir)
    return recorder, result


def results(recorder: Recorder) -> list[dict[str, float]]:
    """What a run measured, without its timings."""
    return [{name: value for name, value in metrics.items() if name not in TIMES} for _, metrics in recorder.epochs]


# ----------------------------------------------------------------------------- the checks


def refused(value):
    def check(field, framework, data_dir):
        with pytest.raises(ValidationError) as error:
            EngineSpec.model_validate(spec_of(framework, **{field: value}))
        assert f"{field}: " in str(error.value), error.value

    return check


def changes_results(value, **also):
    def check(field, framework, data_dir):
        default, _ = run(spec_of(framework, **also), data_dir)
        changed, _ = run(spec_of(framework, **also, **{field: value}), data_dir)
        assert results(changed) != results(default)

    return check


def more_epochs(field, framework, data_dir):
    recorder, result = run(spec_of(framework, epochs=2), data_dir)
    assert [epoch for epoch, _ in recorder.epochs] == [1, 2] and result.epochs_completed == 2


def device_cpu(field, framework, data_dir):
    recorder, _ = run(spec_of(framework, device="cpu"), data_dir)
    assert recorder.info["device"] == "cpu"


def device_cuda_without_gpu(field, framework, data_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        run(spec_of(framework, device="cuda"), data_dir)


def early_stopping(field, framework, data_dir):
    # No epoch improves the validation loss by 100: the run stops after 1 + patience epochs.
    _, result = run(spec_of(framework, epochs=4, early_stopping={"patience": 1, "min_delta": 100}), data_dir)
    assert result.stopped_early and result.epochs_completed == 2


class WatchesTraining(Recorder):
    """Notes, at each batch, whether deterministic algorithms are on."""

    def __init__(self):
        super().__init__()
        self.deterministic: set[bool] = set()

    def should_stop(self):
        self.deterministic.add(torch.are_deterministic_algorithms_enabled())
        return super().should_stop()


def deterministic_torch(field, framework, data_dir):
    for value in (True, False):
        watcher = WatchesTraining()
        run(spec_of(framework, deterministic=value), data_dir, watcher)
        assert watcher.deterministic == {value}


def deterministic_numpy(field, framework, data_dir):
    # Nothing to switch: the NumPy loop has no nondeterministic kernels. Checked: repeated runs agree.
    first, _ = run(spec_of(framework, deterministic=True), data_dir)
    again, _ = run(spec_of(framework, deterministic=True), data_dir)
    assert results(first) == results(again) == results(run(spec_of(framework), data_dir)[0])


def channels_last(field, framework, data_dir):
    seen: dict[bool, set[bool]] = {True: set(), False: set()}
    for value in (True, False):
        def note(module, inputs, value=value):
            if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
                seen[value].add(inputs[0].is_contiguous(memory_format=torch.channels_last)
                                and not inputs[0].is_contiguous())

        hook = torch.nn.modules.module.register_module_forward_pre_hook(note)
        try:
            run(spec_of(framework, channels_last=value), data_dir)
        finally:
            hook.remove()
    assert seen == {True: {True}, False: {False}}


def write_small_cifar10(data_dir) -> dict:
    rng = np.random.default_rng(0)
    write_cifar10(data_dir, rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8), list(range(10)) * 3,
                  rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), list(range(10)))
    return {"name": "cifar10", "download": False, "augment": False}


def augment(field, framework, data_dir):
    # The synthetic classification sets have no augmentation: CIFAR-10's crops and flips, in both loops.
    cifar = write_small_cifar10(data_dir)
    default, _ = run(spec_of(framework, dataset=cifar), data_dir)
    augmented, _ = run(spec_of(framework, dataset={**cifar, "augment": True}), data_dir)
    assert default.epochs[0][1]["train_loss"] != augmented.epochs[0][1]["train_loss"]


def tta(field, framework, data_dir):
    # A mirror keeps a CIFAR-10 label: the test predictions average the image's and its mirror's.
    cifar = write_small_cifar10(data_dir)
    default, _ = run(spec_of(framework, dataset=cifar), data_dir)
    mirrored, _ = run(spec_of(framework, dataset=cifar, tta=True), data_dir)
    assert default.epochs[0][1]["train_loss"] == mirrored.epochs[0][1]["train_loss"]  # training is untouched
    assert default.epochs[0][1]["test_loss"] != mirrored.epochs[0][1]["test_loss"]
    # Digits-like sets are not mirror-invariant: there tta is documented to do nothing.
    assert results(run(spec_of(framework, tta=True), data_dir)[0]) == results(run(spec_of(framework), data_dir)[0])


def val_fraction(field, framework, data_dir):
    recorder, _ = run(spec_of(framework, val_fraction=0.3), data_dir)
    assert (recorder.info["train_samples"], recorder.info["val_samples"]) == (28, 12)
    recorder, _ = run(spec_of(framework, val_fraction=0), data_dir)
    assert (recorder.info["train_samples"], recorder.info["val_samples"]) == (40, 0)
    assert not [name for name in recorder.epochs[0][1] if name.startswith("val_")]


def selection_metric(field, framework, data_dir):
    recorder, result = run(spec_of(framework, epochs=3, selection_metric="val_loss"), data_dir)
    assert result.best_epoch == best_epoch({epoch: m["val_loss"] for epoch, m in recorder.epochs}, "val_loss")
    refused("val_dice")(field, framework, data_dir)  # not a metric a classification run reports


def eval_train(field, framework, data_dir):
    recorder, _ = run(spec_of(framework, eval_train=True), data_dir)
    assert {"train_eval_loss", "train_eval_accuracy", "train_eval_balanced_accuracy"} <= set(recorder.epochs[0][1])


def both(*checks):
    return {"torch": list(checks), "numpy": list(checks)}


# field -> framework -> checks of a value other than the default
FIELDS = {
    "model": {"torch": [changes_results({"name": "mlp", "hidden_sizes": [8]})],
              "numpy": [changes_results({"name": "mlp_numpy", "hidden_sizes": [8]})]},
    "dataset": both(changes_results({**DATASET, "noise": 1.0}), augment),  # each option: test_synthetic_dataset_options
    "optimizer": {"torch": [changes_results({"name": "sgd", "momentum": 0.9}), changes_results("adam")],
                  "numpy": [changes_results({"name": "sgd", "momentum": 0.9}), refused("adam")]},
    "learning_rate": both(changes_results(0.02)),
    "scheduler": both(changes_results({"name": "onecycle"})),  # the lr changes within the one epoch
    "epochs": both(more_epochs),
    "batch_size": both(changes_results(20)),
    "seed": both(changes_results(1)),
    "device": {"torch": [device_cpu, device_cuda_without_gpu], "numpy": [device_cpu, refused("cuda")]},
    "label_smoothing": {"torch": [changes_results(0.2)], "numpy": [refused(0.2)]},
    "grad_clip_norm": {"torch": [changes_results(1e-3)], "numpy": [refused(1.0)]},
    "early_stopping": both(early_stopping),
    "deterministic": {"torch": [deterministic_torch], "numpy": [deterministic_numpy]},
    "channels_last": {"torch": [channels_last], "numpy": [refused(True)]},
    "amp": {"torch": [changes_results("bf16")], "numpy": [refused("bf16")]},
    "tta": both(tta),
    "val_fraction": both(val_fraction),
    "split_seed": both(changes_results(1)),  # other data; that the run seed leaves them be: test_validation_split
    "selection_metric": both(selection_metric),
    "eval_train": both(eval_train),
}


def test_every_spec_field_has_an_entry():
    assert set(FIELDS) == set(TrainSpec.model_fields)
    assert all(set(checks) == {"torch", "numpy"} for checks in FIELDS.values())


@pytest.mark.parametrize("framework", ["torch", "numpy"])
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_field_is_refused_or_honoured(tmp_path, field, framework):
    for check in FIELDS[field][framework]:
        check(field, framework, tmp_path)


# ----------------------------------------------------------------------------- dataset options

SEGMENTATION_MODEL = {"name": "unet", "num_layers": 2, "features_start": 4}
DATASET_BASES = {
    "synthetic_mnist": {"num_train": 40, "num_test": 20},
    "synthetic_cifar10": {"num_train": 40, "num_test": 20},
    "synthetic_segmentation": {"num_train": 12, "num_test": 10, "image_size": 16},
}
# option -> a value other than the bases'
DATASET_VALUES = {"num_train": 50, "num_test": 30, "noise": 0.5, "image_size": 32, "augment": True}


def dataset_cases():
    for name in DATASET_BASES:
        for option in sorted(set(DATASETS[name].options.model_fields) - {"name"}):
            for framework in ("torch", "numpy"):
                if framework == "numpy" and DATASETS[name].task == "segmentation":
                    continue  # no NumPy segmentation model: refused as a whole (test_engine)
                yield pytest.param(name, option, framework, id=f"{name}.{option}-{framework}")


def test_every_dataset_option_has_a_value():
    options = {option for name in DATASET_BASES for option in DATASETS[name].options.model_fields} - {"name"}
    assert options <= set(DATASET_VALUES)


@pytest.mark.parametrize("name, option, framework", list(dataset_cases()))
def test_synthetic_dataset_options(tmp_path, name, option, framework):
    model = SEGMENTATION_MODEL if DATASETS[name].task == "segmentation" else MODELS[framework]
    base = {"name": name, **DATASET_BASES[name]}
    default, _ = run(spec_of(framework, model=model, dataset=base), tmp_path)
    changed, _ = run(spec_of(framework, model=model, dataset={**base, option: DATASET_VALUES[option]}), tmp_path)
    assert results(changed) != results(default)
    sizes = {"num_train": ("train_samples", 45), "num_test": ("test_samples", 30)}  # 50 less 10% validation
    if option in sizes:
        key, count = sizes[option]
        assert changed.info[key] == count
