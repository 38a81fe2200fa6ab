"""ImageNet-100: the 100 ImageNet classes of CMC (Tian et al. 2019), the paper's main dataset.

Read from an image folder (ImageNet's own train/val images sorted into one folder per class;
the other 900 class folders may be there too, they are ignored)::

    DATA_DIR/train/<wnid>/*.JPEG      ~1,300 per class
    DATA_DIR/val/<wnid>/*.JPEG        50 per class, used as the test split

``DATA_DIR`` may also hold that layout in ``imagenet100/`` or ``ImageNet-100/``. The class list
(``imagenet100.txt``, shipped in the package) is CMC's ``imagenet100.txt``; labels follow its
order. ImageNet's licence forbids redistribution, so there is no download.

Images are decoded at ``image_size`` (shorter side resized, centre square; 224 by default). The
training split stays on disk (``FolderImages``): pretraining streams it through DataLoader
workers. The 5,000 test images are decoded into memory (750 MB at 224 px) for the test-time
perturbations.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from monorobust.data.base import DATASETS, MIN_IMAGE_SIDE, ImageDataset, ImageSplit
from monorobust.data.folder import FolderImages, scan_classes
from monorobust.errors import ConfigError


def class_list() -> tuple[str, ...]:
    """The 100 WordNet ids of ImageNet-100, in label order."""
    text = (resources.files("monorobust") / "data" / "imagenet100.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def locate(data_dir: Path | None) -> Path:
    if data_dir is None:
        raise ConfigError("imagenet100 is read from a local image folder (no download: ImageNet's "
                          "licence); pass --data-dir DIR with DIR/train/<wnid>/ and DIR/val/<wnid>/")
    for root in (data_dir, data_dir / "imagenet100", data_dir / "ImageNet-100"):
        if (root / "train").is_dir() and (root / "val").is_dir():
            return root
    raise ConfigError(f"no ImageNet-100 in {data_dir}: expected {data_dir}/train/<wnid>/*.JPEG and "
                      f"{data_dir}/val/<wnid>/*.JPEG (one folder per class); fix --data-dir")


@DATASETS.register("imagenet100")
def load_imagenet100(data_dir: Path | None, image_size: int = 224) -> ImageDataset:
    if image_size < MIN_IMAGE_SIDE:
        raise ConfigError(f"data.image_size must be >= {MIN_IMAGE_SIDE} for imagenet100, got "
                          f"{image_size}")
    root = locate(data_dir)
    classes = class_list()
    train_paths, train_labels = scan_classes(root / "train", classes)
    test_paths, test_labels = scan_classes(root / "val", classes)
    train = ImageSplit(FolderImages(train_paths, image_size), train_labels)
    test = ImageSplit(FolderImages(test_paths, image_size).materialize(), test_labels)
    return ImageDataset("imagenet100", train, test, classes)
