"""The built-in datasets: one file per dataset, each registered through the plugin API
(`trainboard.plugins.register_dataset`), like a user's plugin. Importing this package registers
them; the worker does it through the `trainboard.datasets` entry point."""

from pathlib import Path

from trainboard.plugins import DATASETS, DatasetOptions, DatasetSplits
from worker.datasets import synthetic  # noqa: F401  (registers)
from worker.datasets import mnist, cifar10, gtsrb, lung_xray, synthetic_segmentation  # noqa: F401  (register)


def load_dataset(options: DatasetOptions, data_dir: Path, seed: int) -> DatasetSplits:
    return DATASETS[options.name].load(options, Path(data_dir), seed)


__all__ = ["DATASETS", "DatasetSplits", "load_dataset"]
