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
