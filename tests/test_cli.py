from __future__ import annotations

import pytest

from conftest import BUNDLES
from microseg.bundle import bundle_dirs, resolve_bundle
from microseg.cli import _input_error, check_overrides, main
from microseg.errors import MicrosegInputError


def test_list_shows_bundles(capsys):
    assert main(["list"]) == 0
    assert "fibsem_mitochondria_segmentation" in capsys.readouterr().out


def test_data_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "lucchi" in out and "epfl.ch" in out


def test_unknown_bundle_is_one_line_and_exit_2(capsys):
    assert main(["segment", "--bundle", "nope", "--input", "x", "--output", "y"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("microseg: error: unknown bundle 'nope'")


def test_resolve_bundle_by_name_and_path(tmp_path, monkeypatch):
    root = resolve_bundle("fibsem_mitochondria_segmentation")
    assert resolve_bundle(root) == root
    monkeypatch.setenv("MICROSEG_BUNDLES", str(tmp_path))
    assert bundle_dirs() == {}
    with pytest.raises(MicrosegInputError, match="installed bundles: none"):
        resolve_bundle("fibsem_mitochondria_segmentation")


def test_input_error_found_through_exception_chain():
    inner = MicrosegInputError("bad.tif: broken")
    try:
        try:
            raise inner
        except MicrosegInputError as error:
            raise RuntimeError("applying transform") from error
    except RuntimeError as outer:
        assert _input_error(outer) is inner
    assert _input_error(RuntimeError("other")) is None


def test_check_overrides_kinds():
    files = [BUNDLES / "fibsem_mitochondria_segmentation" / "configs" / "inference.json"]
    check_overrides(files, {"dataset_dir": 2024, "threshold": 1, "roi_size": [64, 64], "tracking": "mlflow"})
    check_overrides(files, {"network_def#channels": [8, 16, 32, 64, 128], "tta": "$'flips'"})
    with pytest.raises(MicrosegInputError, match="takes a number"):
        check_overrides(files, {"threshold": "high"})
    with pytest.raises(MicrosegInputError, match="no setting 'network_def#nope'"):
        check_overrides(files, {"network_def#nope": 1})


def test_true_false_texts_are_flags():
    from microseg.cli import as_bool

    assert as_bool("false") is False and as_bool("True") is True and as_bool(False) is False and as_bool("1")
    with pytest.raises(MicrosegInputError, match="give true or false"):
        as_bool("maybe", "trust_bundle")


def test_trust_bundle_false_does_not_trust(tmp_path, capsys):
    from conftest import copy_bundle

    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    argv = ["segment", "--bundle", str(bundle), "--input", str(tmp_path), "--output", str(tmp_path / "o")]
    assert main([*argv, "--trust_bundle", "false"]) == 2
    assert "configs run Python code" in capsys.readouterr().err


# --- help, progress, results at a glance, previews, file modes, one-line errors (issue "What a person sees") ---

FIBSEM = "fibsem_mitochondria_segmentation"


def test_help_lists_every_command_with_one_line(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("list", "segment", "segment-large", "evaluate", "train", "export", "check-bundle", "data"):
        assert f"    {command}" in out, command
    assert "segment_large" not in out and "check_bundle" not in out


def test_command_help_exits_0_with_options_and_bundle_settings(capsys):
    assert main(["segment", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--bundle", "--input", "--output", "--preview", "--pixel_size", "--runtime", "--quiet", "--debug"):
        assert option in out, option
    assert main(["segment", "--bundle", FIBSEM, "--help"]) == 0
    out = capsys.readouterr().out
    for setting in ("--threshold 0.5", "--tta none", "--backend eager", "--precision auto", "--min_object_size 1000"):
        assert setting in out, setting
    assert main(["train", "--bundle", FIBSEM, "--help"]) == 0
    assert "--max_epochs" in capsys.readouterr().out


def test_underscore_spelling_still_accepted(capsys):
    assert main(["segment_large", "--help"]) == 0
    assert "usage: microseg segment-large" in capsys.readouterr().out


def test_usage_errors_are_one_line(capsys):
    assert main(["segment", "--bundle", FIBSEM]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "required: --input, --output" in err[0]
    assert main(["list", "--tta", "flips"]) == 2
    assert "unknown option(s) --tta" in capsys.readouterr().err


def test_progress_only_on_a_terminal_and_not_with_quiet(monkeypatch):
    import sys

    from microseg.console import console
    from microseg.progress import progress, progress_shown

    with console():
        assert not progress_shown()  # pytest's stderr is not a terminal
        assert progress(range(3)).disable
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with console():
        assert progress_shown()
    with console(quiet=True):
        assert not progress_shown()
    assert not progress_shown()


def test_segment_writes_summary_preview_and_readable_files(tmp_path, capsys):
    import csv
    import os
    import stat

    import numpy as np
    import tifffile

    from conftest import synthetic_stack
    from microseg.io.writers import _UMASK
    from microseg.reporting.summary import mask_summary

    image, _ = synthetic_stack(depth=3, height=96, width=96)
    tifffile.imwrite(tmp_path / "stack.tif", image)
    out = tmp_path / "out"
    argv = ["segment", "--bundle", FIBSEM, "--input", str(tmp_path / "stack.tif"), "--output", str(out)]
    assert main([*argv, "--preview", "--pixel_size", "0.005", "--min_object_size", "0"]) == 0
    table = capsys.readouterr().out
    (row,) = list(csv.DictReader((out / "summary.csv").open()))
    expected = mask_summary(tifffile.imread(out / "stack_seg.tif"), (0.005,) * 3)
    assert int(row["objects"]) == expected["objects"] and row["shape"] == "3x96x96"
    assert float(row["foreground_fraction"]) == pytest.approx(expected["foreground_fraction"], abs=1e-4)
    assert "stack.tif" in table and "3x96x96" in table and "summary.csv" in table
    preview = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(out / "stack_preview.png"))
    assert preview.ndim == 3 and preview.shape[1] > 3 * 96 // 2  # slices side by side plus the projection
    for name in ("stack_seg.tif", "summary.csv", "stack_preview.png"):
        mode = stat.S_IMODE(os.stat(out / name).st_mode)
        assert mode == 0o666 & ~_UMASK, (name, oct(mode))


def test_bad_input_is_one_line_in_a_real_process(tmp_path):
    """The console script as a user runs it: stderr is exactly one line, stdout empty (no MONAI log lines)."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    argv = ["segment", "--bundle", FIBSEM, "--input", str(tmp_path / "rgb.png"), "--output", str(tmp_path / "o")]
    done = subprocess.run([sys.executable, "-m", "microseg.cli", *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("microseg: error: ") and line.endswith(
        "rgb.png: expected 1 channel(s), got 3; convert the image to greyscale (one channel) first."
    )
    assert done.stdout == ""
    debug = subprocess.run([sys.executable, "-m", "microseg.cli", *argv, "--debug"], capture_output=True, text=True)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
