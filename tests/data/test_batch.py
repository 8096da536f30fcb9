"""Batch inference that survives interruption: the manifest of finished inputs, skipping them on a restart, redoing
them when the settings change, bad files skipped by every bundle, and (``-m slow``, a minute) a real kill in the
middle of a folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from monai.transforms import Lambda

from conftest import BUNDLES, bundle_with_weights, synthetic_glands, synthetic_stack
from microseg.bundle import load_parser, network_input_channels
from microseg.cli import main
from microseg.data import TolerantDataset, pending_inputs, settings_fingerprint
from microseg.data.batch import MANIFEST_NAME, read_manifest
from microseg.errors import MicrosegInputError

FIBSEM = "fibsem_mitochondria_segmentation"


def _folder(folder: Path, count: int, size: int = 64) -> Path:
    folder.mkdir()
    for k in range(count):
        image = synthetic_stack(depth=1, height=size, width=size, seed=k)[0][0]
        tifffile.imwrite(folder / f"img_{k:02d}.tif", image)
    return folder


def _segment(inputs: Path, out: Path, *extra: str) -> int:
    argv = ["segment", "--bundle", FIBSEM, "--input", str(inputs), "--output", str(out), "--folder_mode", "images"]
    return main([*argv, *extra])


def _outputs(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("*_seg.tif"))}


def test_manifest_and_pending_inputs(tmp_path):
    settings = {"threshold": 0.5}
    items = [{"image": str(tmp_path / f"{k}.tif")} for k in range(3)]
    assert pending_inputs(items, tmp_path, settings) == items  # nothing recorded yet
    (tmp_path / "0_seg.tif").write_bytes(b"x")
    lines = [
        {"settings": settings_fingerprint(settings)},
        {"input": items[0]["image"], "outputs": [str(tmp_path / "0_seg.tif")]},
        {"input": items[1]["image"], "outputs": [str(tmp_path / "1_seg.tif")]},  # output deleted since
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"input": "cut sh'  # a line cut by a kill
    (tmp_path / MANIFEST_NAME).write_text(text)
    fingerprint, done = read_manifest(tmp_path)
    assert fingerprint == settings_fingerprint(settings) and list(done) == [items[0]["image"], items[1]["image"]]
    assert pending_inputs(items, tmp_path, settings) == items[1:]
    assert pending_inputs(items, tmp_path, {"threshold": 0.6}) == items  # other settings: everything again
    assert pending_inputs(items, tmp_path, settings, skip_existing=False) == items


def test_tolerant_dataset_turns_input_errors_into_records():
    def check(item):
        if item["image"] == "bad":
            raise MicrosegInputError("bad: unreadable")
        return item

    data = TolerantDataset([{"image": "good"}, {"image": "bad"}], transform=Lambda(check))
    assert data[0] == {"image": "good"}
    assert data[1] == {"failed_input": "bad", "error": "bad: unreadable"}
    with pytest.raises(RuntimeError):  # a bug is not an input error: it still stops the run
        TolerantDataset([{"image": 1}], transform=Lambda(lambda item: item["missing"]))[0]


def test_restart_skips_finished_inputs_and_redoes_the_rest(tmp_path):
    inputs = _folder(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert _segment(inputs, out) == 0
    first = _outputs(out)
    assert list(first) == ["img_00_seg.tif", "img_01_seg.tif", "img_02_seg.tif"]
    reference = tifffile.imread(out / "img_01_seg.tif")

    (out / "img_01_seg.tif").unlink()  # as if the run had been killed before writing it
    partial = out / ".img_01_seg.tif.abc.partial.tif"  # what a kill leaves: never under the final name
    partial.write_bytes(b"half")
    os.utime(partial, (time.time() - 3600, time.time() - 3600))  # an hour old: no run is writing it any more
    assert _segment(inputs, out) == 0
    again = _outputs(out)
    assert again["img_00_seg.tif"] == first["img_00_seg.tif"] and again["img_02_seg.tif"] == first["img_02_seg.tif"]
    np.testing.assert_array_equal(tifffile.imread(out / "img_01_seg.tif"), reference)
    assert not partial.exists()

    assert _segment(inputs, out, "--threshold", "0.7") == 0  # new settings: every input again
    changed = _outputs(out)
    assert all(changed[name] > again[name] for name in again)
    assert _segment(inputs, out, "--threshold", "0.7", "--skip_existing", "false") == 0  # redo all on request
    assert all(_outputs(out)[name] > changed[name] for name in changed)


def test_writing_in_the_background_gives_the_same_outputs_and_manifest(tmp_path):
    inputs = _folder(tmp_path / "in", 3)
    background, inline = tmp_path / "background", tmp_path / "inline"
    assert _segment(inputs, background) == 0  # the default: a writer thread
    assert _segment(inputs, inline, "--write_in_background", "false") == 0
    assert list(_outputs(background)) == list(_outputs(inline)) == [f"img_0{k}_seg.tif" for k in range(3)]
    for name in _outputs(inline):
        np.testing.assert_array_equal(tifffile.imread(background / name), tifffile.imread(inline / name))
    assert list(read_manifest(background)[1]) == list(read_manifest(inline)[1])
    for text, expected in (("true", "BackgroundWriter"), ("false", "NoneType")):  # as python -m monai.bundle passes it
        parser = load_parser(BUNDLES / FIBSEM, "inference.json", write_in_background=text)
        assert type(parser.get_parsed_content("writer")).__name__ == expected


@pytest.mark.slow
def test_killed_run_finishes_on_restart_with_the_uninterrupted_outputs(tmp_path):
    inputs = _folder(tmp_path / "in", 12, size=256)
    command = [sys.executable, "-m", "microseg.cli", "segment", "--bundle", FIBSEM, "--input", str(inputs)]
    command += ["--folder_mode", "images", "--tta", "dihedral"]  # 8 passes per image: a kill lands mid-folder
    reference, out = tmp_path / "reference", tmp_path / "out"
    assert subprocess.run([*command, "--output", str(reference)], capture_output=True).returncode == 0

    process = subprocess.Popen([*command, "--output", str(out)], stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(read_manifest(out)[1]) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = set(read_manifest(out)[1])
    assert 2 <= len(done_before) < 12

    result = subprocess.run([*command, "--output", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{len(done_before)} of 12 inputs were finished by an earlier run" in result.stdout + result.stderr
    names = sorted(p.name for p in reference.glob("*_seg.tif"))
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == names
    for name in names:
        np.testing.assert_array_equal(tifffile.imread(out / name), tifffile.imread(reference / name))


def _bundle_inputs(name: str, folder: Path, channels: int) -> tuple[list[Path], Path]:
    """Two good images and one truncated PNG in the layout the bundle reads; returns (good files, bad file)."""
    from PIL import Image

    files = []
    for k, stem in enumerate(["a", "b", "cut"]):
        image = synthetic_glands(64, 72, seed=k)[0] if channels == 3 else _grey_image(k)
        target = folder / stem / "images" / f"{stem}.png" if name.startswith("dsb2018") else folder / f"{stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target)
        files.append(target)
    files[-1].write_bytes(files[-1].read_bytes()[:100])
    return files[:2], files[-1]


def _grey_image(seed: int) -> np.ndarray:
    return synthetic_stack(depth=1, height=64, width=72, seed=seed)[0][0]


@pytest.mark.parametrize(
    "name", sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "inference.json").is_file())
)
def test_every_bundle_skips_bad_files_and_restarts(name, tmp_path):
    bundle = bundle_with_weights(name, tmp_path)
    inputs, out = tmp_path / "in", tmp_path / "out"
    good, bad = _bundle_inputs(name, inputs, network_input_channels(bundle))
    argv = ["segment", "--bundle", str(bundle), "--trust_bundle", "--input", str(inputs), "--output", str(out)]
    if "folder_mode" in load_parser(bundle).config:
        argv += ["--folder_mode", "images"]
    assert main(argv) == 2
    assert [line.split("\t")[0] for line in (out / "failed_inputs.txt").read_text().splitlines()] == [str(bad)]
    written = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if "_seg" in p.name}
    assert sorted(n.split("_seg")[0] for n in written) == ["a", "b"]
    _, done = read_manifest(out)
    assert sorted(done) == sorted(map(str, good))

    assert main(argv) == 2  # the bad file is still bad; the good ones are not redone
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if "_seg" in p.name} == written
