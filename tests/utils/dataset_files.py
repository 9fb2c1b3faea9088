"""Writers of small datasets in each real dataset's on-disk format, for the loader tests.

Each writes into a data folder laid out as the real distribution (after extraction) is, so the
loaders read them with their real code (torchvision's parsers included):

- MNIST: IDX files (big-endian header: magic 0x00000803 for uint8 3-d images, 0x00000801 for
  uint8 1-d labels, then the sizes as 32-bit ints, then the bytes) in `MNIST/raw/`, optionally
  gzipped as distributed;
- CIFAR-10: `cifar-10-batches-py/data_batch_1..5`, `test_batch`, `batches.meta`, pickled as the
  originals were by Python 2 (protocol 2, the dict keys and strings as Python 2 `str`, which
  Python 3 reads back with encoding="latin1" as str, or with encoding="bytes" as b"data" ...),
  b"data" a uint8 (N, 3072) array (the 1024 red values row by row, then green, then blue);
- GTSRB: `gtsrb/GTSRB/Training/<00000>/<00000_00000>.ppm` + `GT-<00000>.csv`,
  `gtsrb/GTSRB/Final_Test/Images/<00000>.ppm` (+ `GT-final_test.test.csv` without labels) and
  `gtsrb/GT-final_test.csv` (";"-separated, Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId);
- lung X-rays: PNG images and masks, paired by name, or the Montgomery layout with
  `ManualMask/leftMask` and `ManualMask/rightMask`.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

# ----------------------------------------------------------------------------- MNIST

IDX_UBYTE = 0x08


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes: 0, 0, type 0x08 (ubyte), number of dimensions; the sizes big-endian; the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, IDX_UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_mnist(
    data_dir: Path,
    train_images: np.ndarray,
    train_labels: Sequence[int],
    test_images: np.ndarray,
    test_labels: Sequence[int],
    *,
    gz: bool = False,
) -> Path:
    """The four IDX files (images uint8 (N, 28, 28)) in data_dir/MNIST/raw; with gz, only the .gz files."""
    raw = Path(data_dir) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte": idx_bytes(train_images),
        "train-labels-idx1-ubyte": idx_bytes(np.asarray(train_labels)),
        "t10k-images-idx3-ubyte": idx_bytes(test_images),
        "t10k-labels-idx1-ubyte": idx_bytes(np.asarray(test_labels)),
    }
    for name, content in files.items():
        if gz:
            (raw / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (raw / name).write_bytes(content)
    return raw


# ----------------------------------------------------------------------------- CIFAR-10

CIFAR10_LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _Python2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 `str` (SHORT_BINSTRING / BINSTRING), as the CIFAR pickles were."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin-1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def python2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 images -> CIFAR's (N, 3072) rows: all red, then green, then blue, row-major."""
    return np.ascontiguousarray(np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images), 3072))


def write_cifar10(
    data_dir: Path,
    train_images: np.ndarray,
    train_labels: Sequence[int],
    test_images: np.ndarray,
    test_labels: Sequence[int],
) -> Path:
    """data_dir/cifar-10-batches-py with the training images spread over data_batch_1..5."""
    folder = Path(data_dir) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_labels = list(train_labels)

    def batch(label: str, images, labels, start: int) -> bytes:
        return python2_pickle(
            {
                "batch_label": label,
                "labels": [int(value) for value in labels],
                "data": cifar_rows(images),
                "filenames": [f"image_{start + i:05d}.png" for i in range(len(labels))],
            }
        )

    chunks = np.array_split(np.arange(len(train_labels)), 5)
    for number, chunk in enumerate(chunks, start=1):
        content = batch(
            f"training batch {number} of 5", train_images[chunk], [train_labels[i] for i in chunk], int(chunk[0])
        )
        (folder / f"data_batch_{number}").write_bytes(content)
    (folder / "test_batch").write_bytes(batch("testing batch 1 of 1", test_images, list(test_labels), 0))
    meta = {"num_cases_per_batch": max(len(chunk) for chunk in chunks), "label_names": CIFAR10_LABEL_NAMES,
            "num_vis": 3072}
    (folder / "batches.meta").write_bytes(python2_pickle(meta))
    return folder


# ----------------------------------------------------------------------------- GTSRB

GTSRB_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"


def _roi_row(name: str, image: np.ndarray, class_id: int | None) -> str:
    height, width = image.shape[:2]
    row = f"{name};{width};{height};{min(5, width - 1)};{min(5, height - 1)};{max(width - 6, 0)};{max(height - 6, 0)}"
    return row if class_id is None else f"{row};{class_id}"


def write_gtsrb(
    data_dir: Path,
    train: dict[int, list[np.ndarray]],
    test: Sequence[tuple[np.ndarray, int]],
    *,
    test_csv: bool = True,
) -> Path:
    """train: {class id: [HxWx3 uint8 images]}; test: [(image, class id)]. Returns data_dir/gtsrb."""
    base = Path(data_dir) / "gtsrb"
    for class_id, images in train.items():
        folder = base / "GTSRB" / "Training" / f"{class_id:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = [GTSRB_HEADER]
        for track, image in enumerate(images):
            name = f"{track // 30:05d}_{track % 30:05d}.ppm"
            Image.fromarray(image, mode="RGB").save(folder / name, format="PPM")
            rows.append(_roi_row(name, image, class_id))
        (folder / f"GT-{class_id:05d}.csv").write_text("\n".join(rows) + "\n")
    images_dir = base / "GTSRB" / "Final_Test" / "Images"
    images_dir.mkdir(parents=True, exist_ok=True)
    labelled, unlabelled = [GTSRB_HEADER], [GTSRB_HEADER.rsplit(";", 1)[0]]
    for number, (image, class_id) in enumerate(test):
        name = f"{number:05d}.ppm"
        Image.fromarray(image, mode="RGB").save(images_dir / name, format="PPM")
        labelled.append(_roi_row(name, image, class_id))
        unlabelled.append(_roi_row(name, image, None))
    (images_dir / "GT-final_test.test.csv").write_text("\n".join(unlabelled) + "\n")
    if test_csv:
        (base / "GT-final_test.csv").write_text("\n".join(labelled) + "\n")
    return base


# ----------------------------------------------------------------------------- lung X-rays


def square_image(
    height: int, width: int, box: tuple[int, int, int, int], *, inside: int = 220, outside: int = 40
) -> np.ndarray:
    """A grey uint8 image with `inside` in box (top, left, bottom, right) and `outside` elsewhere."""
    image = np.full((height, width), outside, dtype=np.uint8)
    top, left, bottom, right = box
    image[top:bottom, left:right] = inside
    return image


def save_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")
    return path


def write_lung_paired(
    data_dir: Path,
    cases: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    images_dir: str = "lung_xray/images",
    masks_dir: str = "lung_xray/masks",
    mask_suffix: str = "",
) -> tuple[Path, Path]:
    """cases: {name: (image, mask)} -> images_dir/<name>.png and masks_dir/<name><mask_suffix>.png."""
    images, masks = Path(data_dir) / images_dir, Path(data_dir) / masks_dir
    for name, (image, mask) in cases.items():
        save_png(images / f"{name}.png", image)
        save_png(masks / f"{name}{mask_suffix}.png", mask)
    return images, masks


def write_lung_montgomery(
    data_dir: Path,
    cases: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    images_dir: str = "MontgomerySet/CXR_png",
    masks_dir: str = "MontgomerySet/ManualMask",
) -> tuple[Path, Path]:
    """cases: {name: (image, left mask, right mask)} as in NLM-MontgomeryCXRSet:
    CXR_png/<name>.png, ManualMask/leftMask/<name>.png, ManualMask/rightMask/<name>.png."""
    images, masks = Path(data_dir) / images_dir, Path(data_dir) / masks_dir
    for name, (image, left, right) in cases.items():
        save_png(images / f"{name}.png", image)
        save_png(masks / "leftMask" / f"{name}.png", left)
        save_png(masks / "rightMask" / f"{name}.png", right)
    return images, masks
