"""Public data sets used by the bundles: official download locations, checksums and conversion.

``microseg data list`` shows them; ``microseg data download NAME --dest DIR`` downloads every file of ``NAME``
into ``DIR/downloads``, verifies its SHA-256 where one is known (and the size where one is known), unpacks
archives without letting any member escape the destination, and converts the result into the layout that the
bundle's ``train.json`` expects under ``DIR`` (then pass ``--dataset_dir DIR`` to the bundle).

Several hosts publish no checksum. For those the first download prints the SHA-256 it got: record it, and pass it
as ``--sha256 FILE=HASH`` next time to pin the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from microseg.errors import MicrosegInputError
from microseg.io.writers import atomic_output

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "Resource",
    "download_dataset",
    "download_file",
    "safe_extract",
    "sha256sum",
]

logger = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One file to download: its URL, the file name to store it under and, when published, its SHA-256 and size."""

    url: str
    filename: str
    sha256: str | None = None
    size: int | None = None
    extract: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """A public data set: where it comes from, its terms, and how to lay it out for a bundle."""

    name: str
    description: str
    homepage: str
    license: str
    resources: tuple[Resource, ...]
    bundle: str = ""
    layout: Callable[[Path], None] | None = field(default=None, compare=False)


def sha256sum(path: str | os.PathLike) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(resource: Resource, folder: str | os.PathLike, timeout: float = 60.0) -> Path:
    """Download ``resource`` into ``folder`` atomically, verify size and SHA-256 when known; reuse a verified copy.

    Raises:
        MicrosegInputError: the download failed, or the file's size or SHA-256 differs from the published one (the
            bad file is deleted).
    """
    target = Path(folder) / resource.filename
    if target.is_file() and resource.sha256 and sha256sum(target) == resource.sha256:
        logger.info("%s: already downloaded and verified", target)
        return target
    logger.info("downloading %s -> %s", resource.url, target)
    try:
        with atomic_output(target) as tmp:
            with urllib.request.urlopen(resource.url, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
            _verify(tmp, resource)
    except MicrosegInputError:
        raise
    except OSError as error:
        raise MicrosegInputError(
            f"could not download {resource.url} ({error}); check the network, or download it by hand into {folder} "
            "and run the command again."
        ) from error
    digest = sha256sum(target)
    if not resource.sha256:
        logger.warning(
            "%s: no published SHA-256 to verify against; got %s (pin it with --sha256 %s=%s)",
            resource.filename,
            digest,
            resource.filename,
            digest,
        )
    return target


def _verify(path: Path, resource: Resource) -> None:
    if resource.size is not None and path.stat().st_size != resource.size:
        raise MicrosegInputError(
            f"{resource.url}: got {path.stat().st_size} bytes, expected {resource.size}; the download is incomplete "
            "or the file changed upstream. Try again."
        )
    if resource.sha256 is not None:
        digest = sha256sum(path)
        if digest != resource.sha256:
            raise MicrosegInputError(
                f"{resource.url}: SHA-256 {digest} does not match the expected {resource.sha256}; the file is corrupt "
                "or not the published one. It was not kept."
            )


def _inside(root: Path, member: str) -> Path:
    target = (root / member).resolve()
    if target != root and root not in target.parents:
        raise MicrosegInputError(f"archive member {member!r} would be written outside {root}; the archive is unsafe.")
    return target


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack a zip or tar archive into ``dest``, refusing absolute paths, ``..`` and links that leave ``dest``.

    Raises:
        MicrosegInputError: an unsafe member (nothing is written then), or not an archive.
    """
    archive, root = Path(archive), Path(dest).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _inside(root, info.filename)
            zf.extractall(root)
        return root
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _inside(root, member.name)
                if member.issym() or member.islnk():
                    _inside(root, str(Path(member.name).parent / member.linkname))
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise MicrosegInputError(f"archive member {member.name!r} is a device or FIFO; refused.")
            tf.extractall(root, members=members, filter="data")
        return root
    raise MicrosegInputError(f"{archive}: not a zip or tar archive.")


def _copy_to_top(dest: Path, names: tuple[str, ...]) -> None:
    """Copy the files ``names``, found among the downloaded or unpacked files, to ``dest`` itself."""
    for name in names:
        found = next((p for folder in ("downloads", "unpacked") for p in sorted((dest / folder).rglob(name))), None)
        if found is None:
            raise MicrosegInputError(f"{dest}: {name} is missing after the download.")
        if found.resolve() != (dest / name).resolve():
            shutil.copy2(found, dest / name)


def _cdeep3m_layout(dest: Path) -> None:
    """CDeep3M: ``mito_testsample/training`` of the unpacked repository is copied to ``dest/training``
    (``images/images.010-029.png``, ``labels/mitos_3D.010-029.png``), which the SBEM bundle's ``train.json`` reads."""
    found = next(iter(sorted((dest / "unpacked").rglob("mito_testsample/training"))), None)
    if found is None or not (found / "images").is_dir() or not (found / "labels").is_dir():
        raise MicrosegInputError(f"{dest}: mito_testsample/training/images and labels are missing after the download.")
    if not (dest / "training").exists():
        shutil.copytree(found, dest / "training")


def _lucchi_layout(dest: Path) -> None:
    """Lucchi: the four TIFF stacks, downloaded or unpacked, are copied to ``dest`` (``train.json`` reads
    ``training.tif`` and ``training_groundtruth.tif`` there)."""
    _copy_to_top(dest, ("training.tif", "training_groundtruth.tif", "testing.tif", "testing_groundtruth.tif"))


def _isbi_layout(dest: Path) -> None:
    """ISBI 2012: the two TIFF stacks are copied to ``dest`` (the SBEM bundle's membrane command reads them there)."""
    _copy_to_top(dest, ("train-volume.tif", "train-labels.tif"))


_LUCCHI_URL = "https://documents.epfl.ch/groups/c/cv/cvlab-unit/www/data/%20ElectronMicroscopy_Hippocampus/"

DATASETS: dict[str, DatasetSpec] = {
    "lucchi": DatasetSpec(
        name="lucchi",
        description="EPFL CVLab FIB-SEM hippocampus (Lucchi et al.): 165+165 slices of 768x1024, 5 nm voxels, "
        "mitochondria masks.",
        homepage="https://www.epfl.ch/labs/cvlab/data/data-em/",
        license="EPFL CVLab: free for research use; cite Lucchi et al. 2012/2013.",
        resources=tuple(
            Resource(_LUCCHI_URL + n, n)
            for n in ("training.tif", "training_groundtruth.tif", "testing.tif", "testing_groundtruth.tif")
        ),
        bundle="fibsem_mitochondria_segmentation",
        layout=_lucchi_layout,
    ),
    "glas": DatasetSpec(
        name="glas",
        description="GlaS contest (MICCAI 2015): 165 H&E colon histology images with gland annotations.",
        homepage="https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/",
        license="Warwick GlaS terms: research only, no commercial use.",
        resources=(
            Resource(
                "https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/download/"
                "warwick_qu_dataset_released_2016_07_08.zip",
                "warwick_qu_dataset_released_2016_07_08.zip",
                extract=True,
            ),
        ),
    ),
    "dsb2018": DatasetSpec(
        name="dsb2018",
        description="Kaggle Data Science Bowl 2018 nuclei, stage 1 training set (BBBC038).",
        homepage="https://bbbc.broadinstitute.org/BBBC038",
        license="CC0 (BBBC038).",
        resources=(
            Resource("https://data.broadinstitute.org/bbbc/BBBC038/stage1_train.zip", "stage1_train.zip", extract=True),
        ),
        bundle="dsb2018_nuclei_segmentation",
    ),
    "cdeep3m_mito": DatasetSpec(
        name="cdeep3m_mito",
        description="CDeep3M SBEM mitochondria test sample (Cell Image Library).",
        homepage="https://github.com/CRBS/cdeep3m",
        license="UC licence: education, research and non-profit use only.",
        resources=(
            Resource(
                "https://github.com/CRBS/cdeep3m/archive/refs/heads/master.zip", "cdeep3m-master.zip", extract=True
            ),
        ),
        bundle="sbem_organelle_segmentation",
        layout=_cdeep3m_layout,
    ),
    "isbi2012": DatasetSpec(
        name="isbi2012",
        description="ISBI 2012 EM segmentation challenge: 30 slices of 512x512 ssTEM with membrane labels.",
        homepage="https://imagej.net/events/isbi-2012-segmentation-challenge",
        license="Challenge terms: research use; cite Cardona et al. 2010 and Arganda-Carreras et al. 2015.",
        resources=tuple(
            Resource(f"http://brainiac2.mit.edu/isbi_challenge/sites/default/files/{n}", n)
            for n in ("train-volume.tif", "train-labels.tif")
        ),
        bundle="sbem_organelle_segmentation",
        layout=_isbi_layout,
    ),
}


def download_dataset(
    spec: DatasetSpec | str,
    dest: str | os.PathLike,
    sha256: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download, verify, unpack and lay out a data set under ``dest``; return ``dest``.

    Args:
        spec: a :class:`DatasetSpec` or a name of :data:`DATASETS`.
        dest: destination folder; downloads are kept in ``dest/downloads``, archives unpacked in ``dest/unpacked``.
        sha256: file name -> SHA-256 pinning files whose host publishes no checksum.
        timeout: seconds per network operation.
    """
    if isinstance(spec, str):
        if spec not in DATASETS:
            raise MicrosegInputError(f"unknown data set {spec!r}; known: {', '.join(DATASETS)}.")
        spec = DATASETS[spec]
    dest = Path(dest)
    downloads = dest / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    pins = dict(sha256 or {})
    for resource in spec.resources:
        if resource.filename in pins:
            resource = replace(resource, sha256=pins[resource.filename])
        path = download_file(resource, downloads, timeout)
        if resource.extract:
            safe_extract(path, dest / "unpacked")
    if spec.layout is not None:
        spec.layout(dest)
    logger.info("%s is ready in %s (licence: %s)", spec.name, dest, spec.license)
    return dest
