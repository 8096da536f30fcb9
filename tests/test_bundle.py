"""Untrusted files: weights verified against ``large_files.yml`` before use, bundles from outside the installed
collection refused without ``--trust_bundle``, checkpoints loaded with ``weights_only=True``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tifffile
import torch
import yaml

from conftest import BUNDLES, copy_bundle, run_config, synthetic_stack
from microseg.bundle import check_trusted, checked_weights, file_sha256, load_parser, models_dir, record_weights
from microseg.cli import _input_error, main
from microseg.errors import MicrosegInputError

ALL_BUNDLES = sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "metadata.json").is_file())


def _listed(bundle: Path) -> list[str]:
    return [e["path"] for e in yaml.safe_load((bundle / "large_files.yml").read_text())["large_files"] or []]


def _nodes(tree):
    """Every dict in a parsed JSON config, depth first."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


@pytest.mark.parametrize("name", ALL_BUNDLES)
def test_every_weight_file_a_config_loads_is_verified_first(name):
    """Each ``CheckpointLoader`` of every config reads its path through ``microseg.bundle.checked_weights``."""
    inference = json.loads((BUNDLES / name / "configs" / "inference.json").read_text())
    for path in sorted((BUNDLES / name / "configs").glob("*.json")):
        config = {**inference, **json.loads(path.read_text())}  # inference_ensemble.json extends inference.json
        loaders = [node["load_path"] for node in _nodes(config) if node.get("_target_") == "CheckpointLoader"]
        for load_path in loaders:
            resolved = config.get(load_path[1:], "") if load_path.startswith("@") else load_path
            assert "microseg.bundle.checked_weights(" in resolved, (path.name, load_path)


def _tamper(bundle: Path) -> None:
    """Put a weight file that is not the released one where the bundle's listing names its ``model.pt``."""
    weights = models_dir(bundle) / "model.pt"
    relative = weights.relative_to(bundle).as_posix()
    if relative not in _listed(bundle):
        listing = yaml.safe_load((bundle / "large_files.yml").read_text())
        listing["large_files"] = [{"path": relative, "hash_val": "0" * 64, "hash_type": "sha256", "size": 1}]
        (bundle / "large_files.yml").write_text(yaml.safe_dump(listing))
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}}, weights)


@pytest.mark.parametrize("name", ALL_BUNDLES)
def test_tampered_weights_are_refused_before_loading(name, tmp_path):
    bundle = copy_bundle(name, tmp_path)
    _tamper(bundle)
    with pytest.raises(Exception) as info:
        load_parser(bundle).get_parsed_content("weights_file")
    message = str(_input_error(info.value))
    assert "model.pt: SHA-256" in message and "large_files.yml" in message and "git lfs pull" in message


def test_tampered_weights_stop_segment_with_one_line(tmp_path, capsys):
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    _tamper(bundle)
    tifffile.imwrite(tmp_path / "in.tif", synthetic_stack(depth=1)[0][0])
    argv = ["segment", "--bundle", str(bundle), "--trust_bundle", "--input", str(tmp_path / "in.tif")]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("microseg: error:")]
    assert len(lines) == 1 and "SHA-256" in lines[0]
    assert not (tmp_path / "out").exists()


def test_listed_hash_type_is_used(tmp_path):
    import hashlib

    bundle = copy_bundle("tem_nuclei_segmentation", tmp_path)
    weights = bundle / "models" / "model.pt"
    torch.save({"w": torch.ones(2)}, weights)
    entry = {"path": "models/model.pt", "hash_val": hashlib.md5(weights.read_bytes()).hexdigest(), "hash_type": "md5"}
    (bundle / "large_files.yml").write_text(yaml.safe_dump({"large_files": [entry]}))
    assert checked_weights(weights) == str(weights.resolve())
    entry["hash_val"] = "0" * 32
    (bundle / "large_files.yml").write_text(yaml.safe_dump({"large_files": [entry]}))
    with pytest.raises(MicrosegInputError, match="MD5 "):
        checked_weights(weights)


def test_weights_not_listed_are_used_as_they_are(tmp_path):
    weights = tmp_path / "my_run" / "model.pt"
    weights.parent.mkdir()
    torch.save({"w": torch.ones(2)}, weights)
    assert checked_weights(weights) == str(weights.resolve())


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(MicrosegInputError, match="no weights; train the bundle first"):
        checked_weights(tmp_path / "model.pt")


def test_record_weights_updates_only_the_listed_file(tmp_path):
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    torch.save({"w": torch.zeros(3)}, bundle / "models" / "model.pt")
    header = (bundle / "large_files.yml").read_text().splitlines()[0]
    assert record_weights(bundle / "models" / "model.pt")
    assert checked_weights(bundle / "models" / "model.pt")
    text = (bundle / "large_files.yml").read_text()
    assert text.splitlines()[0] == header and file_sha256(bundle / "models" / "model.pt") in text
    torch.save({"w": torch.zeros(3)}, bundle / "models" / "other.pt")
    assert not record_weights(bundle / "models" / "other.pt")


def test_training_in_place_records_its_weights(tmp_path, stack_files):
    """A bundle retrained in place keeps working: the best model's new hash goes into large_files.yml."""
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    run_config(
        bundle,
        ["train.json"],
        dataset_dir=str(stack_files["dir"]),
        train_slices=[0, 8],
        val_slices=[9, 12],
        roi_size=[32, 32],
        num_workers=0,
        tensorboard=False,
        max_epochs=1,
        num_samples=1,
        val_interval=1,
    )
    assert checked_weights(bundle / "models" / "model.pt")


def test_bundles_outside_the_collection_need_trust(tmp_path, capsys):
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    with pytest.raises(MicrosegInputError, match="--trust_bundle"):
        check_trusted(bundle)
    assert check_trusted(bundle, trust=True) == bundle.resolve()
    assert check_trusted("fibsem_mitochondria_segmentation") == (BUNDLES / "fibsem_mitochondria_segmentation")
    argv = ["segment", "--bundle", str(bundle), "--input", str(tmp_path), "--output", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "configs run Python code" in capsys.readouterr().err
    assert main(["export", "--bundle", str(bundle)]) == 2


def test_untrusted_pickles_are_not_executed(tmp_path):
    """Checkpoints are read with weights_only=True: a pickle that would run code is refused."""

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    bundle = copy_bundle("tem_nuclei_segmentation", tmp_path)
    torch.save({"model": Exploit()}, bundle / "models" / "model.pt")
    tifffile.imwrite(tmp_path / "in.tif", synthetic_stack(depth=1)[0][0])
    with pytest.raises(Exception) as info:
        run_config(bundle, ["inference.json"], dataset_dir=str(tmp_path / "in.tif"), output_dir=str(tmp_path / "o"))
    chain, error = [], info.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert any("Weights only load failed" in message for message in chain)
    assert not (tmp_path / "pwned").exists()
    assert _input_error(info.value) is None  # a security refusal, not an input-format message
