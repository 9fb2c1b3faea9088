"""Datasets: one file per dataset, all registered in `registry.DATASETS`."""

from worker.datasets import synthetic  # noqa: F401  (registers)
from worker.datasets import mnist, cifar10, gtsrb, lung_xray, synthetic_segmentation  # noqa: F401  (register)
from worker.datasets.registry import DATASETS, DatasetEntry, DatasetOptions, DatasetSplits, load_dataset

__all__ = ["DATASETS", "DatasetEntry", "DatasetOptions", "DatasetSplits", "load_dataset"]
