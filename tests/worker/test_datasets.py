"""The dataset loaders on small files in each dataset's real on-disk format (written by
tests/utils/dataset_files.py), read through the real loader code with download=False, and the
batch augmentations."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from tests.utils.dataset_files import (
    square_image,
    write_cifar10,
    write_gtsrb,
    write_lung_montgomery,
    write_lung_paired,
    write_mnist,
)
from worker.datasets import DATASETS, load_dataset
from worker.datasets import cifar10, gtsrb, lung_xray, mnist, synthetic_segmentation, transforms
from worker.datasets.errors import DatasetUnavailable


def options(name: str, **fields):
    return DATASETS[name].options.model_validate({"name": name, **fields})


def check_classification(splits, shape, train_labels, test_labels):
    assert splits.x_train.dtype == splits.x_test.dtype == torch.float32
    assert splits.y_train.dtype == splits.y_test.dtype == torch.int64
    assert tuple(splits.x_train.shape) == (len(train_labels), *shape)
    assert tuple(splits.x_test.shape) == (len(test_labels), *shape)
    assert splits.y_train.tolist() == list(train_labels)
    assert splits.y_test.tolist() == list(test_labels)


# ----------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("name", "task", "num_classes", "fields", "shape", "flip_invariant"),
    [
        ("mnist", "classification", 10, {}, (1, 28, 28), False),
        ("cifar10", "classification", 10, {}, (3, 32, 32), True),
        ("gtsrb", "classification", 43, {}, (3, 32, 32), False),
        ("gtsrb", "classification", 43, {"image_size": 48}, (3, 48, 48), False),
        ("lung_xray", "segmentation", 2, {}, (1, 256, 256), True),
        ("lung_xray", "segmentation", 2, {"image_size": 128}, (1, 128, 128), True),
        ("synthetic_segmentation", "segmentation", 2, {}, (1, 64, 64), True),
        ("synthetic_segmentation", "segmentation", 2, {"image_size": 32}, (1, 32, 32), True),
    ],
)
def test_registered_with_task_classes_and_shape(name, task, num_classes, fields, shape, flip_invariant):
    entry = DATASETS[name]
    assert (entry.task, entry.num_classes, entry.flip_invariant) == (task, num_classes, flip_invariant)
    assert entry.shape_for(options(name, **fields)) == shape
    assert entry.augment is not None and entry.description


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("gtsrb", {"image_size": 8}),
        ("gtsrb", {"image_size": 256}),
        ("lung_xray", {"image_size": 100}),  # not a multiple of 16
        ("lung_xray", {"test_fraction": 0.9}),
        ("lung_xray", {"images_dir": "../elsewhere"}),
        ("lung_xray", {"masks_dir": "/etc"}),
        ("synthetic_segmentation", {"image_size": 40}),
        ("mnist", {"limit_train": 0}),
        ("cifar10", {"unknown": 1}),
    ],
)
def test_options_are_checked(name, fields):
    with pytest.raises(ValueError):
        options(name, **fields)


def test_engine_spec_accepts_the_datasets():
    from worker.engine.spec import EngineSpec

    spec = EngineSpec.model_validate(
        {"model": "mlp", "dataset": {"name": "gtsrb", "image_size": 24}, "learning_rate": 0.1, "epochs": 1,
         "batch_size": 8}
    )
    assert spec.input_shape == (3, 24, 24) and spec.num_classes == 43


# ----------------------------------------------------------------------------- MNIST

MNIST_MEAN_PIXEL = round(0.1307 * 255)  # 33: normalises to about 0


def mnist_images(count: int, seed: int) -> np.ndarray:
    images = np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    images[0] = MNIST_MEAN_PIXEL
    images[1] = 0
    images[1, 3, 20] = 255  # orientation: row 3, column 20
    return images


@pytest.fixture
def mnist_dir(tmp_path):
    write_mnist(tmp_path, mnist_images(6, 0), [5, 0, 4, 1, 9, 2], mnist_images(4, 1), [7, 2, 1, 0])
    return tmp_path


def test_mnist_reads_the_idx_files(mnist_dir):
    splits = load_dataset(options("mnist", download=False), mnist_dir, seed=0)
    check_classification(splits, (1, 28, 28), [5, 0, 4, 1, 9, 2], [7, 2, 1, 0])
    assert splits.num_classes == 10
    assert splits.x_train[0].abs().max() < 0.01  # the mean pixel normalises to ~0
    black, white = (0 - 0.1307) / 0.3081, (1 - 0.1307) / 0.3081
    assert splits.x_train[1, 0, 0, 0].item() == pytest.approx(black, abs=1e-5)
    assert splits.x_train[1, 0, 3, 20].item() == pytest.approx(white, abs=1e-5)
    raw = mnist_images(6, 0)[2:]
    assert torch.allclose(splits.x_train[2:, 0], (torch.from_numpy(raw).float() / 255 - 0.1307) / 0.3081, atol=1e-5)


def test_mnist_gz_files_as_distributed(tmp_path):
    write_mnist(tmp_path, mnist_images(6, 0), [5, 0, 4, 1, 9, 2], mnist_images(4, 1), [7, 2, 1, 0], gz=True)
    splits = load_dataset(options("mnist", download=False), tmp_path, seed=0)
    check_classification(splits, (1, 28, 28), [5, 0, 4, 1, 9, 2], [7, 2, 1, 0])


def test_mnist_limit_takes_a_fixed_subset(mnist_dir):
    first = load_dataset(options("mnist", download=False, limit_train=3, limit_test=2), mnist_dir, seed=0)
    again = load_dataset(options("mnist", download=False, limit_train=3, limit_test=2), mnist_dir, seed=5)
    assert len(first.x_train) == 3 and len(first.x_test) == 2
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_train, again.y_train)
    full = load_dataset(options("mnist", download=False), mnist_dir, seed=0)
    for image, label in zip(first.x_train, first.y_train, strict=True):  # each chosen sample kept with its label
        match = [i for i in range(len(full.x_train)) if torch.equal(full.x_train[i], image)]
        assert len(match) == 1 and full.y_train[match[0]] == label


def test_mnist_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset(options("mnist", download=False), tmp_path, seed=0)
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte" in message
    assert "t10k-labels-idx1-ubyte" in message and error.value.folder == tmp_path / "MNIST" / "raw"


def test_mnist_download_offline_fails_fast(tmp_path, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", no_network)
    started = time.perf_counter()
    with pytest.raises(DatasetUnavailable, match="download failed") as error:
        load_dataset(options("mnist"), tmp_path, seed=0)
    assert time.perf_counter() - started < 5
    assert str(tmp_path / "MNIST" / "raw") in str(error.value)


def test_mnist_failed_torchvision_download_becomes_dataset_unavailable(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def failing_download(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://..., got:\n404")

    monkeypatch.setattr(mnist, "require_online", lambda *args: None)
    monkeypatch.setattr(MNIST, "download", failing_download)
    with pytest.raises(DatasetUnavailable, match="Error downloading train-images"):
        load_dataset(options("mnist"), tmp_path, seed=0)


# ----------------------------------------------------------------------------- CIFAR-10

CIFAR_MEAN_PIXEL = np.array([round(m * 255) for m in cifar10.MEAN], dtype=np.uint8)


def cifar_images(count: int, seed: int) -> np.ndarray:
    images = np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    images[0] = CIFAR_MEAN_PIXEL
    images[1] = 0
    images[1, 2, 30] = (255, 0, 0)  # one red pixel at row 2, column 30
    return images


@pytest.fixture
def cifar_dir(tmp_path):
    write_cifar10(tmp_path, cifar_images(12, 0), [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9], cifar_images(5, 1),
                  [3, 8, 8, 0, 6])
    return tmp_path


def test_cifar10_reads_the_pickle_batches(cifar_dir):
    splits = load_dataset(options("cifar10", download=False), cifar_dir, seed=0)
    check_classification(splits, (3, 32, 32), [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9], [3, 8, 8, 0, 6])
    assert splits.x_train[0].abs().max() < 0.01
    mean, std = torch.tensor(cifar10.MEAN), torch.tensor(cifar10.STD)
    assert torch.allclose(splits.x_train[1, :, 2, 30], (torch.tensor([1.0, 0.0, 0.0]) - mean) / std, atol=1e-5)
    assert torch.allclose(splits.x_train[1, :, 0, 0], -mean / std, atol=1e-5)
    raw = torch.from_numpy(cifar_images(5, 1)).permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(splits.x_test, (raw - mean.view(3, 1, 1)) / std.view(3, 1, 1), atol=1e-5)


def test_cifar10_limit(cifar_dir):
    splits = load_dataset(options("cifar10", download=False, limit_train=4, limit_test=3), cifar_dir, seed=0)
    assert splits.x_train.shape == (4, 3, 32, 32) and splits.x_test.shape == (3, 3, 32, 32)


def test_cifar10_missing_or_damaged_files(tmp_path, cifar_dir):
    empty = tmp_path / "empty"
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset(options("cifar10", download=False), empty, seed=0)
    assert str(empty / "cifar-10-batches-py") in str(error.value) and "data_batch_1" in str(error.value)
    (cifar_dir / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02}q\x00(U\x04data")
    with pytest.raises(DatasetUnavailable, match="damaged"):
        load_dataset(options("cifar10", download=False), cifar_dir, seed=0)


# ----------------------------------------------------------------------------- GTSRB


def solid(height: int, width: int, colour) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (height, width, 3)).copy()


@pytest.fixture
def gtsrb_dir(tmp_path):
    train = {  # some of the 43 classes only, images of different sizes
        0: [solid(30, 31, (255, 0, 0)), solid(45, 40, (255, 0, 0))],
        7: [solid(25, 25, (0, 255, 0))],
        42: [solid(60, 52, (0, 0, 255)), solid(17, 20, (0, 0, 255)), solid(33, 33, (0, 0, 255))],
    }
    test = [(solid(40, 44, (0, 0, 255)), 42), (solid(28, 30, (255, 0, 0)), 0), (solid(50, 50, (0, 255, 0)), 7)]
    write_gtsrb(tmp_path, train, test)
    return tmp_path


def test_gtsrb_reads_class_folders_and_test_csv(gtsrb_dir):
    splits = load_dataset(options("gtsrb", download=False, image_size=16), gtsrb_dir, seed=0)
    # The class ids come from the folder names (torchvision alone would number 00000, 00007, 00042 as 0, 1, 2).
    check_classification(splits, (3, 16, 16), [0, 0, 7, 42, 42, 42], [42, 0, 7])
    assert splits.num_classes == 43
    mean, std = torch.tensor(gtsrb.MEAN).view(3, 1, 1), torch.tensor(gtsrb.STD).view(3, 1, 1)
    colours = {0: (1.0, 0.0, 0.0), 7: (0.0, 1.0, 0.0), 42: (0.0, 0.0, 1.0)}
    for x, y in ((splits.x_train, splits.y_train), (splits.x_test, splits.y_test)):
        for image, label in zip(x, y, strict=True):
            expected = ((torch.tensor(colours[int(label)]).view(3, 1, 1) - mean) / std).expand(3, 16, 16)
            assert torch.allclose(image, expected, atol=1e-5)


def test_gtsrb_image_size_and_limit(gtsrb_dir):
    splits = load_dataset(options("gtsrb", download=False, image_size=40, limit_train=2), gtsrb_dir, seed=0)
    assert splits.x_train.shape == (2, 3, 40, 40) and splits.x_test.shape == (3, 3, 40, 40)
    assert set(splits.y_train.tolist()) <= {0, 7, 42}


def test_gtsrb_missing_files(tmp_path):
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset(options("gtsrb", download=False), tmp_path, seed=0)
    assert str(tmp_path / "gtsrb") in str(error.value) and "GT-final_test.csv" in str(error.value)
    write_gtsrb(tmp_path, {1: [solid(20, 20, (9, 9, 9))]}, [(solid(20, 20, (9, 9, 9)), 1)], test_csv=False)
    with pytest.raises(DatasetUnavailable, match="GT-final_test.csv"):
        load_dataset(options("gtsrb", download=False), tmp_path, seed=0)


# ----------------------------------------------------------------------------- lung X-rays

LEFT_BOX, RIGHT_BOX = (20, 10, 90, 50), (30, 70, 80, 110)  # (top, left, bottom, right) in a 120 x 128 image


def lung_case(seed: int, box=LEFT_BOX, mask_value: int = 255):
    """A noisy image with a bright rectangle, and the rectangle's mask."""
    rng = np.random.default_rng(seed)
    image = square_image(120, 128, box).astype(np.int16) + rng.integers(-20, 20, (120, 128))
    mask = square_image(120, 128, box, inside=mask_value, outside=0)
    return image.clip(0, 255).astype(np.uint8), mask


def check_masks_match_images(splits, size):
    for x, y in ((splits.x_train, splits.y_train), (splits.x_test, splits.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (1, size, size) and y.shape[1:] == (size, size)
        assert set(y.unique().tolist()) == {0, 1}
        for image, mask in zip(x[:, 0], y, strict=True):
            inside, outside = image[mask == 1], image[mask == 0]
            assert inside.min() > outside.max() - 0.5  # the bright rectangle is where the mask is
            assert inside.mean() > outside.mean() + 1.0


def test_lung_xray_paired_with_mask_suffix(tmp_path):
    cases = {f"CHNCXR_{i:04d}_0": lung_case(i) for i in range(10)}
    write_lung_paired(tmp_path, cases, mask_suffix="_mask")
    write_lung_paired(tmp_path, {"no_mask_here": lung_case(99)}, masks_dir="elsewhere")  # an image without a mask
    splits = load_dataset(options("lung_xray", image_size=64), tmp_path, seed=0)
    assert len(splits.x_train) == 8 and len(splits.x_test) == 2 and splits.num_classes == 2
    check_masks_match_images(splits, 64)
    # normalised with the training images' statistics
    assert abs(splits.x_train.mean()) < 1e-4 and abs(splits.x_train.std() - 1) < 1e-3
    # the rectangle lands where nearest-neighbour resizing puts it: rows 20..90 of 120 -> 10.7..48 of 64
    mask = splits.y_train[0]
    assert mask[11:48, 6:25].all() and not mask[:10].any() and not mask[:, 28:].any()


def test_lung_xray_split_depends_on_the_seed_only(tmp_path):
    write_lung_paired(tmp_path, {f"case{i:02d}": lung_case(i) for i in range(10)})

    def split(seed):
        splits = load_dataset(options("lung_xray", image_size=64, test_fraction=0.3), tmp_path, seed=seed)
        return splits.x_train, splits.x_test  # the images differ by their noise

    (train, test), (train_again, test_again) = split(1), split(1)
    assert len(train) == 7 and len(test) == 3
    assert torch.equal(test, test_again) and torch.equal(train, train_again)
    others = [split(seed)[1] for seed in (2, 3)]
    assert any(other.shape != test.shape or not torch.allclose(other, test) for other in others)
    assert torch.equal(lung_xray.split_indices(10, 0.3, 1)[1], lung_xray.split_indices(10, 0.3, 1)[1])
    assert not torch.equal(lung_xray.split_indices(10, 0.3, 1)[1], lung_xray.split_indices(10, 0.3, 2)[1])
    train_index, test_index = lung_xray.split_indices(10, 0.3, 1)
    assert sorted(train_index.tolist() + test_index.tolist()) == list(range(10))


def test_lung_xray_montgomery_left_and_right_masks_are_merged(tmp_path):
    cases = {}
    for i in range(4):
        image = square_image(120, 128, LEFT_BOX)
        image[RIGHT_BOX[0] : RIGHT_BOX[2], RIGHT_BOX[1] : RIGHT_BOX[3]] = 220
        left = square_image(120, 128, LEFT_BOX, inside=1, outside=0)  # 0/1 masks are read too
        right = square_image(120, 128, RIGHT_BOX, inside=255, outside=0)
        cases[f"MCUCXR_{i:04d}_{i % 2}"] = (image, left, right)
    write_lung_montgomery(tmp_path, cases)
    dirs = {"images_dir": "MontgomerySet/CXR_png", "masks_dir": "MontgomerySet/ManualMask"}
    for layout in ("auto", "montgomery"):
        splits = load_dataset(options("lung_xray", image_size=64, layout=layout, **dirs), tmp_path, seed=0)
        check_masks_match_images(splits, 64)
        mask = splits.y_train[0]
        assert mask[:, :26].any() and mask[:, 37:].any()  # both lungs
        assert not mask[:, 26:35].any()  # and nothing between them
    with pytest.raises(DatasetUnavailable, match="leftMask"):  # a paired layout has no sides
        write_lung_paired(tmp_path, {f"c{i}": lung_case(i) for i in range(3)})
        load_dataset(options("lung_xray", layout="montgomery", image_size=64), tmp_path, seed=0)


def test_lung_xray_sixteen_bit_images(tmp_path):
    from PIL import Image

    images, masks = tmp_path / "lung_xray" / "images", tmp_path / "lung_xray" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i in range(3):
        grey, mask = lung_case(i)
        Image.fromarray(grey.astype(np.uint16) * 16).save(images / f"JPCLN{i:03d}.png")  # 12-bit values
        Image.fromarray(mask).save(masks / f"JPCLN{i:03d}.png")
    assert Image.open(images / "JPCLN000.png").mode.startswith("I")
    splits = load_dataset(options("lung_xray", image_size=64, test_fraction=0.34), tmp_path, seed=0)
    check_masks_match_images(splits, 64)


def test_lung_xray_missing_folder_names_it_and_the_sources(tmp_path):
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset(options("lung_xray"), tmp_path, seed=0)
    message = str(error.value)
    assert str(tmp_path / "lung_xray" / "images") in message and "Montgomery" in message and "JSRT" in message
    write_lung_paired(tmp_path, {"a": lung_case(0)}, masks_dir="lung_xray/other")
    (tmp_path / "lung_xray" / "masks").mkdir()
    with pytest.raises(DatasetUnavailable, match="0 of them with a mask"):
        load_dataset(options("lung_xray"), tmp_path, seed=0)


# ----------------------------------------------------------------------------- synthetic segmentation


def test_synthetic_segmentation_is_seeded_and_masks_fit_the_shapes(tmp_path):
    fields = {"num_train": 40, "num_test": 10, "image_size": 32, "noise": 0.1}
    first = load_dataset(options("synthetic_segmentation", **fields), tmp_path, seed=3)
    again = load_dataset(options("synthetic_segmentation", **fields), tmp_path, seed=3)
    other = load_dataset(options("synthetic_segmentation", **fields), tmp_path, seed=4)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    assert not torch.equal(first.y_train, other.y_train)
    assert first.x_train.shape == (40, 1, 32, 32) and first.y_train.shape == (40, 32, 32)
    assert first.y_train.dtype == torch.int64 and first.x_train.dtype == torch.float32
    assert set(first.y_train.unique().tolist()) == {0, 1}
    assert first.y_train.flatten(1).any(dim=1).all()  # every image has a shape
    inside = first.x_train[:, 0][first.y_train == 1].mean()
    outside = first.x_train[:, 0][first.y_train == 0].mean()
    assert inside > outside + 1.0


# ----------------------------------------------------------------------------- augmentations


def augment_batch(name: str, x, y, seed: int):
    entry = DATASETS[name]
    return entry.augment(x, y, entry.options(), torch.Generator().manual_seed(seed))


CLASSIFICATION_BATCHES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "gtsrb": (3, 32, 32)}


@pytest.mark.parametrize("name", sorted(CLASSIFICATION_BATCHES))
def test_classification_augment_keeps_shape_is_seeded_and_changes_the_batch(name):
    x = torch.randn(16, *CLASSIFICATION_BATCHES[name], generator=torch.Generator().manual_seed(0))
    x = x.cumsum(dim=-1) / 4  # some structure, so that moving pixels changes them
    y = torch.arange(16) % 10
    out, out_y = augment_batch(name, x.clone(), y, seed=1)
    again, _ = augment_batch(name, x.clone(), y, seed=1)
    other, _ = augment_batch(name, x.clone(), y, seed=2)
    assert out.shape == x.shape and out.dtype == x.dtype and out.is_contiguous()
    assert torch.equal(out_y, y)  # labels untouched
    assert torch.equal(out, again)
    assert not torch.equal(out, other)
    assert not torch.allclose(out, x)


@pytest.mark.parametrize("name", sorted(CLASSIFICATION_BATCHES))
def test_augment_keeps_channels_last(name):
    x = torch.randn(4, *CLASSIFICATION_BATCHES[name]).contiguous(memory_format=torch.channels_last)
    out, _ = augment_batch(name, x, torch.zeros(4, dtype=torch.long), seed=0)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_mnist_augment_keeps_the_black_surround():
    background = torch.full((4, 1, 28, 28), mnist.BACKGROUND)
    out, _ = mnist.augment_mnist(background, torch.zeros(4, dtype=torch.long), None, torch.Generator().manual_seed(0))
    assert torch.allclose(out, background, atol=1e-5)


@pytest.mark.parametrize("name", ["lung_xray", "synthetic_segmentation"])
def test_segmentation_flips_image_and_mask_together(name):
    masks = torch.zeros(32, 16, 16, dtype=torch.long)
    masks[:, 2:9, 1:6] = 1  # on the left
    x = masks[:, None].float() * 3.0 - 1.0
    out, out_masks = augment_batch(name, x, masks, seed=0)
    assert out.shape == x.shape and out.dtype == x.dtype and out_masks.dtype == torch.int64
    assert torch.equal(out_masks, (out[:, 0] > 0).long())  # still aligned
    flipped = out_masks[:, :, 10:].flatten(1).any(dim=1)
    assert 0 < flipped.sum() < 32  # some flipped, some not
    assert torch.equal(out_masks[flipped], masks[flipped].flip(-1))
    again = augment_batch(name, x, masks, seed=0)
    assert torch.equal(again[0], out) and torch.equal(again[1], out_masks)


def test_random_crop_keeps_masks_aligned_and_pads_as_asked():
    generator = torch.Generator().manual_seed(0)
    masks = (torch.rand(8, 12, 12, generator=generator) > 0.5).long()
    x = torch.cat([masks[:, None].float(), -masks[:, None].float()], dim=1)
    for mode in ("reflect", "constant"):
        out, out_masks = transforms.random_crop_with_padding(x, generator, padding=3, y=masks, mode=mode, fill=0.0)
        assert out.shape == x.shape and out_masks.shape == masks.shape
        assert torch.equal(out[:, 0], out_masks.float()) and torch.equal(out[:, 1], -out_masks.float())
        assert not torch.equal(out_masks, masks)
    ramp = torch.arange(6.0).view(1, 1, 1, 6).expand(40, 1, 6, 6)
    out, _ = transforms.random_crop_with_padding(ramp, generator, padding=2, mode="constant", fill=-9.0)
    # each row is a shifted ramp, the part brought in from outside being the fill
    assert set(out.unique().tolist()) <= {-9.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    out, _ = transforms.random_crop_with_padding(ramp, generator, padding=2, mode="reflect")
    assert set(out.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0, 5.0} and (out == -9).sum() == 0
    assert torch.equal(transforms.random_crop_with_padding(ramp, generator, padding=0)[0], ramp)


def test_random_affine_moves_masks_with_their_images():
    generator = torch.Generator().manual_seed(0)
    masks = torch.zeros(8, 32, 32, dtype=torch.long)
    masks[:, 8:24, 10:20] = 1
    x = masks[:, None].float()
    out, out_masks = transforms.random_affine(x, generator, degrees=15, translate=0.1, scale=(0.9, 1.1), y=masks)
    assert out_masks.dtype == torch.int64 and set(out_masks.unique().tolist()) <= {0, 1}
    assert not torch.equal(out_masks, masks)
    agreement = ((out[:, 0] > 0.5).long() == out_masks).float().mean()
    assert agreement > 0.97  # bilinear image vs nearest mask: they differ at most along the edges
    same, _ = transforms.random_affine(x, generator, y=None)  # no rotation, shift or zoom: the identity
    assert torch.allclose(same, x, atol=1e-5)


def test_colour_jitter_stays_in_the_pixel_range():
    mean, std = gtsrb.MEAN, gtsrb.STD
    pixels = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    out = transforms.colour_jitter(x, torch.Generator().manual_seed(1), brightness=0.5, contrast=0.5,
                                   saturation=0.5, mean=mean, std=std)
    back = out * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    assert back.min() >= -1e-5 and back.max() <= 1 + 1e-5 and not torch.allclose(out, x)
    same = transforms.colour_jitter(x, torch.Generator().manual_seed(1), mean=mean, std=std)
    assert torch.allclose(same, x, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_augmentations_run_on_the_training_device_with_a_cpu_generator():
    for name, shape in CLASSIFICATION_BATCHES.items():
        x = torch.randn(8, *shape)
        on_gpu, _ = augment_batch(name, x.cuda(), torch.zeros(8, dtype=torch.long).cuda(), seed=0)
        on_cpu, _ = augment_batch(name, x, torch.zeros(8, dtype=torch.long), seed=0)
        assert on_gpu.is_cuda and torch.allclose(on_gpu.cpu(), on_cpu, atol=1e-4)
    masks = (torch.rand(8, 16, 16) > 0.5).long()
    out, out_masks = augment_batch("lung_xray", masks[:, None].float().cuda(), masks.cuda(), seed=0)
    assert torch.equal(out_masks.cpu(), augment_batch("lung_xray", masks[:, None].float(), masks, seed=0)[1])


def test_synthetic_segmentation_module_is_registered():
    assert DATASETS["synthetic_segmentation"].load is synthetic_segmentation.load_synthetic_segmentation
