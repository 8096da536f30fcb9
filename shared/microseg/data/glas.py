"""The GlaS layout (MICCAI 2015 gland segmentation contest): images, instance annotations and ``Grade.csv``.

One folder holds ``<name>.bmp`` images with ``<name>_anno.bmp`` annotations (PNG or TIFF are accepted too), and
optionally ``Grade.csv``. Names are ``<split>_<n>``: ``train_1`` .. ``train_85``, ``testA_1`` .. ``testA_60``,
``testB_1`` .. ``testB_20``. The official annotations are instance label images; a binary annotation (values 0 and
one other value) is turned into instances by connected components at evaluation time
(:class:`microseg.transforms.LabelInstances`).

Contest page: https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path

from microseg.data.datalist import images_by_stem
from microseg.errors import MicrosegInputError

__all__ = ["ANNOTATION_SUFFIX", "glas_split", "list_glas", "read_glas_grades"]

ANNOTATION_SUFFIX = "_anno"
_NAME = re.compile(r"^(?P<split>.+?)_(?P<number>\d+)$")


def glas_split(name: str) -> str:
    """The split of a GlaS image name: ``"testA_12"`` -> ``"testA"``; a name without ``_<n>`` is its own split."""
    match = _NAME.match(name)
    return match.group("split") if match else name


def read_glas_grades(csv_file: str | os.PathLike) -> dict[str, str]:
    """``{name: grade}`` from a GlaS ``Grade.csv`` (columns: name, patient ID, GlaS grade, ...).

    The grade is the third column stripped of spaces: ``"benign"`` or ``"malignant"``.
    """
    grades: dict[str, str] = {}
    with open(csv_file, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or len(header) < 3:
            raise MicrosegInputError(f"{csv_file}: expected a header 'Name, patient ID, grade (GlaS), ...'.")
        for row in rows:
            if len(row) >= 3 and row[0].strip():
                grades[row[0].strip()] = row[2].strip()
    return grades


def list_glas(
    folder: str | os.PathLike,
    splits: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    include: Sequence[str] | None = None,
    require_labels: bool = True,
) -> list[dict[str, str]]:
    """A MONAI data list of the GlaS images in ``folder``, in natural name order.

    Each item has ``image``, ``name`` and ``split``; ``label`` when ``<name>_anno.*`` exists; ``grade`` when
    ``Grade.csv`` lists the name.

    Args:
        folder: the GlaS folder.
        splits: keep only these splits (e.g. ``["testA", "testB"]``); all when None.
        exclude: image names to leave out (e.g. a validation part).
        include: keep only these image names; all when None.
        require_labels: raise when an image has no annotation (training and evaluation); False for inference.

    Raises:
        MicrosegInputError: the folder does not exist, holds no image of the requested splits, or an image lacks its
            annotation while ``require_labels`` is True.
    """
    root = Path(folder)
    if not root.is_dir():
        raise MicrosegInputError(f"{root}: no such folder; point dataset_dir at the GlaS folder.")
    files = images_by_stem(root)
    grades_file = root / "Grade.csv"
    grades = read_glas_grades(grades_file) if grades_file.is_file() else {}
    wanted_splits = set(splits) if splits is not None else None
    wanted_names = set(include) if include is not None else None
    items = []
    for name, path in files.items():
        if name.endswith(ANNOTATION_SUFFIX) or name in exclude:
            continue
        split = glas_split(name)
        if (wanted_splits is not None and split not in wanted_splits) or (
            wanted_names is not None and name not in wanted_names
        ):
            continue
        item = {"image": str(path), "name": name, "split": split}
        label = files.get(name + ANNOTATION_SUFFIX)
        if label is not None:
            item["label"] = str(label)
        elif require_labels:
            raise MicrosegInputError(f"{path}: no annotation {name}{ANNOTATION_SUFFIX}.* beside it.")
        if name in grades:
            item["grade"] = grades[name]
        items.append(item)
    if not items and wanted_names is not None:
        shown = ", ".join(sorted(wanted_names)[:4]) + (" ..." if len(wanted_names) > 4 else "")
        raise MicrosegInputError(
            f"{root}: none of the images named for this split ({shown}) is in the folder; name the images to use with "
            "--val_names (a list such as \"['train_1', 'train_2']\") or rename your files."
        )
    if not items:
        raise MicrosegInputError(
            f"{root}: no GlaS image found (splits {sorted(wanted_splits) if wanted_splits else 'any'}); expected files "
            f"like train_1.bmp with train_1{ANNOTATION_SUFFIX}.bmp."
        )
    return items
