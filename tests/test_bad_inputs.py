"""The catalogue of bad inputs: each gives exit status 2 and one ``microseg: error:`` line that names the file and
says what to do, and leaves no partial output. A batch over a folder finishes the good files and counts the bad ones.

Runs the installed bundles (the FIB-SEM U-Net unless an entry needs another) on small synthetic files.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import BUNDLES, bundle_with_weights, synthetic_glands, synthetic_stack
from microseg.cli import main

FIBSEM = "fibsem_mitochondria_segmentation"
ALL_BUNDLES = sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "inference.json").is_file())


def _grey(seed: int = 0, shape=(64, 80)) -> np.ndarray:
    return synthetic_stack(depth=1, height=shape[0], width=shape[1], seed=seed)[0][0]


def _float_with(value: float) -> np.ndarray:
    image = _grey().astype(np.float32)
    image[10:12, 20:25] = value
    return image


def _truncated(path: Path, write: Callable[[Path], None]) -> Path:
    write(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _forged_png(path: Path, width: int, height: int) -> Path:
    """A valid small PNG whose header then claims ``width`` x ``height`` pixels."""
    Image.fromarray(_grey()).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    path.write_bytes(bytes(data))
    return path


def _h5(path: Path, **dataset) -> str:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("raw", **dataset)
    return f"{path}:/raw"


def _tif(path: Path, array: np.ndarray) -> Path:
    tifffile.imwrite(path, array)
    return path


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def _empty_folder(path: Path) -> Path:
    path.mkdir()
    return path


# id -> (make the input under tmp, words the message must contain)
SEGMENT_CATALOGUE: dict[str, tuple[Callable[[Path], str | Path], list[str]]] = {
    "missing path": (lambda t: t / "nowhere.tif", ["nowhere.tif", "no such file or folder"]),
    "empty folder": (lambda t: _empty_folder(t / "empty"), ["empty", "holds no image"]),
    "truncated TIFF": (
        lambda t: _truncated(t / "cut.tif", lambda p: tifffile.imwrite(p, np.stack([_grey(0), _grey(1)]))),
        ["cut.tif", "cannot read this TIFF file", "Copy or export it again"],
    ),
    "truncated PNG": (
        lambda t: _truncated(t / "cut.png", lambda p: Image.fromarray(_grey()).save(p)),
        ["cut.png", "cannot read this PNG file"],
    ),
    "truncated HDF5": (
        lambda t: _truncated(t / "cut.h5", lambda p: _h5(p, data=np.stack([_grey(0), _grey(1)]))),
        ["cut.h5", "cannot read this HDF5 file"],
    ),
    "4D array": (
        lambda t: _tif(t / "4d.tif", np.random.default_rng(0).integers(0, 255, (2, 2, 32, 32), dtype=np.uint8)),
        ["4d.tif", "spatial dimensions", "stack of 2D slices"],
    ),
    "RGB for a greyscale bundle": (
        lambda t: _png(t / "rgb.png", synthetic_glands(48, 48)[0]),
        ["rgb.png", "expected 1 channel(s), got 3", "greyscale"],
    ),
    "complex dtype": (
        lambda t: _tif(t / "complex.tif", (_grey() + 1j * _grey(1)).astype(np.complex64)),
        ["complex.tif", "not a real number", "magnitude"],
    ),
    "NaN values": (
        lambda t: _tif(t / "nan.tif", _float_with(np.nan)),
        ["nan.tif", "NaN or infinite", "replace them"],
    ),
    "infinite values": (
        lambda t: _tif(t / "inf.tif", _float_with(-np.inf)),
        ["inf.tif", "NaN or infinite"],
    ),
    "constant image": (
        lambda t: _tif(t / "flat.tif", np.full((64, 64), 7, np.uint8)),
        ["flat.tif", "constant", "nothing to segment"],
    ),
    "mask given as image": (
        lambda t: _tif(t / "mask.tif", (_grey() > np.median(_grey())).astype(np.uint8) * 255),
        ["mask.tif", "two distinct values", "swapped"],
    ),
    "0-pixel declared size": (
        lambda t: _h5(t / "zero.h5", shape=(0, 64), dtype="uint8"),
        ["zero.h5", "declares no pixels"],
    ),
    "absurd declared size (HDF5)": (
        lambda t: _h5(t / "huge.h5", shape=(10**5, 10**5, 10**4), dtype="uint8", chunks=(1, 64, 64)),
        ["huge.h5", "declares an image of shape (100000, 100000, 10000)", "crop or downsample"],
    ),
    "absurd declared size (PNG header)": (
        lambda t: _forged_png(t / "forged.png", 200_000, 200_000),
        ["forged.png", "save it as a TIFF"],
    ),
}


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    status = main(argv)
    return status, capsys.readouterr().err


def _assert_one_error_line(err: str, words: list[str]) -> None:
    """One ``microseg: error:`` line and nothing else on stderr but the ``microseg: skipped:`` lines of a batch: no
    traceback, no log line repeating the message."""
    lines = [line for line in err.splitlines() if line.startswith("microseg: error: ")]
    assert len(lines) == 1, err[-3000:]
    others = [line for line in err.splitlines() if line.strip() and not line.startswith("microseg: skipped: ")]
    assert others == lines, err[-3000:]
    for word in words:
        assert word in lines[0], (word, lines[0])


def _no_partial_outputs(out: Path) -> None:
    assert not out.exists() or not list(out.iterdir()), sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("case", list(SEGMENT_CATALOGUE), ids=list(SEGMENT_CATALOGUE))
def test_segment_refuses_bad_input_with_one_line(case, tmp_path, capsys):
    make, words = SEGMENT_CATALOGUE[case]
    path = make(tmp_path)
    out = tmp_path / "out"
    status, err = _run(capsys, ["segment", "--bundle", FIBSEM, "--input", str(path), "--output", str(out)])
    assert status == 2
    _assert_one_error_line(err, words)
    _no_partial_outputs(out)


def test_unknown_bundle_lists_the_installed_ones(tmp_path, capsys):
    status, err = _run(capsys, ["segment", "--bundle", "fibsem", "--input", str(tmp_path), "--output", "o"])
    assert status == 2
    _assert_one_error_line(err, ["unknown bundle 'fibsem'", FIBSEM, "MICROSEG_BUNDLES"])


@pytest.mark.parametrize(
    ("override", "words"),
    [
        (["--treshold", "0.4"], ["--treshold", "has no setting 'treshold'", "threshold"]),
        (["--threshold", "high"], ["--threshold 'high'", "takes a number"]),
        (["--roi_size", "128"], ["--roi_size 128", "takes a list"]),
        (["--save_probabilities", "7"], ["--save_probabilities 7", "takes true/false"]),
        (["--precision", "half"], ["precision must be one of", "bfloat16"]),
        (["--backend", "tensorrt"], ["backend must be one of", "onnx"]),
    ],
    ids=["unknown key", "text for a number", "number for a list", "number for a flag", "precision", "backend"],
)
def test_inconsistent_override_is_refused_before_running(override, words, tmp_path, capsys):
    path = _tif(tmp_path / "ok.tif", _grey())
    out = tmp_path / "out"
    status, err = _run(capsys, ["segment", "--bundle", FIBSEM, "--input", str(path), "--output", str(out), *override])
    assert status == 2
    _assert_one_error_line(err, words)
    assert not out.exists()


def _fibsem_training_folder(folder: Path, label: np.ndarray | None = None, image=None) -> Path:
    folder.mkdir()
    image_stack, mask = synthetic_stack(depth=4)
    tifffile.imwrite(folder / "training.tif", image_stack if image is None else image)
    tifffile.imwrite(folder / "training_groundtruth.tif", mask if label is None else label)
    return folder


EVALUATE_CATALOGUE = {
    "image/label shape mismatch": (
        lambda t: _fibsem_training_folder(t / "data", label=synthetic_stack(depth=4, width=64)[1]),
        ["training", "shape", "(4, 64, 96)", "(4, 64, 64)"],
    ),
    "non-binary semantic label": (
        lambda t: _fibsem_training_folder(t / "data", label=(synthetic_stack(depth=4)[1] // 255) * 2 + 1),
        ["training_groundtruth.tif", "must be binary", "threshold it"],
    ),
}


@pytest.mark.parametrize("case", list(EVALUATE_CATALOGUE), ids=list(EVALUATE_CATALOGUE))
def test_evaluate_refuses_bad_labels_with_one_line(case, tmp_path, capsys):
    make, words = EVALUATE_CATALOGUE[case]
    data = make(tmp_path)
    argv = ["evaluate", "--bundle", FIBSEM, "--dataset_dir", str(data), "--output", str(tmp_path / "out")]
    status, err = _run(capsys, [*argv, "--val_slices", "[0, 4]"])
    assert status == 2
    _assert_one_error_line(err, words)


def test_negative_instance_labels_are_refused(tmp_path, capsys):
    data = tmp_path / "glas"
    data.mkdir()
    image, mask = synthetic_glands(64, 64)
    Image.fromarray(image).save(data / "testA_1.png")
    tifffile.imwrite(data / "testA_1_anno.tif", np.where(mask > 0, -1, 0).astype(np.int16))
    argv = ["evaluate", "--bundle", "he_gland_segmentation", "--dataset_dir", str(data), "--output", str(tmp_path)]
    status, err = _run(capsys, [*argv, "--eval_splits", '["testA"]'])
    assert status == 2
    _assert_one_error_line(err, ["testA_1_anno.tif", "negative values", "unsigned integers"])


def test_batch_finishes_good_files_and_counts_bad_ones(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(3):
        _tif(inputs / f"good_{k}.tif", _grey(k))
    _tif(inputs / "flat.tif", np.full((64, 64), 3, np.uint8))
    _truncated(inputs / "cut.tif", lambda p: tifffile.imwrite(p, _grey(5)))
    out = tmp_path / "out"
    argv = ["segment", "--bundle", FIBSEM, "--input", str(inputs), "--output", str(out), "--folder_mode", "images"]
    status, err = _run(capsys, argv)
    assert status == 2
    _assert_one_error_line(err, ["2 of 5 inputs failed", "cut.tif", "flat.tif", "failed_inputs.txt", "other 3"])
    assert sorted(p.name for p in out.glob("*.tif")) == ["good_0_seg.tif", "good_1_seg.tif", "good_2_seg.tif"]
    report = (out / "failed_inputs.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in report] == [str(inputs / "cut.tif"), str(inputs / "flat.tif")]
    assert "constant" in report[1]


PER_BUNDLE_CASES = {
    "NaN values": (lambda t: _tif(t / "nan.tif", _float_with(np.nan)), ["nan.tif", "NaN or infinite"]),
    "truncated PNG": (
        lambda t: _truncated(t / "cut.png", lambda p: Image.fromarray(_grey()).save(p)),
        ["cut.png", "cannot read this PNG file"],
    ),
    "stack for a 2D bundle or 4D array": (
        lambda t: _tif(t / "4d.tif", np.random.default_rng(0).integers(0, 255, (2, 2, 32, 32), dtype=np.uint8)),
        ["4d.tif", "got"],
    ),
}


@pytest.mark.parametrize("case", list(PER_BUNDLE_CASES))
@pytest.mark.parametrize("name", ALL_BUNDLES)
def test_every_bundle_checks_its_input(name, case, tmp_path, capsys):
    make, words = PER_BUNDLE_CASES[case]
    path = make(tmp_path)
    bundle = str(bundle_with_weights(name, tmp_path))
    argv = ["segment", "--bundle", bundle, "--trust_bundle", "--input", str(path), "--output", str(tmp_path / "out")]
    status, err = _run(capsys, argv)
    assert status == 2
    _assert_one_error_line(err, words)
    _no_partial_outputs(tmp_path / "out")
