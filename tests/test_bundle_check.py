"""``microseg check-bundle``: each check finds what it is for, and the command reports it with exit status 2."""

from __future__ import annotations

import json

import torch
import yaml

from conftest import BUNDLES, copy_bundle
from microseg.bundle import record_weights
from microseg.bundle_check import check_bundle
from microseg.cli import main


def test_a_broken_bundle_gets_one_line_per_problem(tmp_path):
    bundle = copy_bundle("tem_nuclei_segmentation", tmp_path)
    (bundle / "docs" / "data_license.txt").unlink()
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    meta["version"] = "9.9.9"
    del meta["network_data_format"]["inputs"]["image"]["num_channels"]
    (bundle / "configs" / "metadata.json").write_text(json.dumps(meta))
    train = json.loads((bundle / "configs" / "train.json").read_text())
    del train["seed"]
    (bundle / "configs" / "train.json").write_text(json.dumps(train))
    torch.save({"w": torch.ones(1)}, bundle / "models" / "model.pt")  # trained, but not listed

    results = check_bundle(bundle, parity=False)
    assert results["layout"] == [
        f"{bundle / 'docs/data_license.txt'}: missing; every bundle has it (Model Zoo layout)."
    ]
    assert any("version 9.9.9 has no changelog entry" in p for p in results["metadata"])
    assert any("num_channels" in p for p in results["metadata"])
    assert results["config keys"] == [
        f"{bundle / 'configs/train.json'}: no seed; every bundle's train.json defines them."
    ]
    listing = bundle / "large_files.yml"
    expected = f"{bundle / 'models/model.pt'}: not in {listing}; run scripts/update_large_files.py {bundle}."
    assert results["weights"] == [expected]


def test_wrong_digest_and_missing_file_are_found(tmp_path):
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)  # the copy has no weight files
    problems = check_bundle(bundle, parity=False)["weights"]
    assert len(problems) == 3 and all("but missing; fetch the bundle's models/ again" in p for p in problems)
    torch.save({"w": torch.ones(1)}, bundle / "models" / "model.pt")
    listing = yaml.safe_load((bundle / "large_files.yml").read_text())
    listing["large_files"] = [e for e in listing["large_files"] if e["path"] == "models/model.pt"]
    (bundle / "large_files.yml").write_text(yaml.safe_dump(listing))
    assert ["SHA-256" in p for p in check_bundle(bundle, parity=False)["weights"]] == [True]


def test_parity_catches_a_stale_export(tmp_path):
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    for name in ("model.pt", "model.ts"):
        (bundle / "models" / name).write_bytes(
            (BUNDLES / "fibsem_mitochondria_segmentation" / "models" / name).read_bytes()
        )
    assert check_bundle(bundle)["export parity"] == []
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)  # a bare state dict
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] += 1.0  # weights retrained (and recorded, as training does), export not redone
    torch.save(state, bundle / "models" / "model.pt")
    record_weights(bundle / "models" / "model.pt")
    problems = check_bundle(bundle)["export parity"]
    assert len(problems) == 1 and "torchscript output differs from eager PyTorch" in problems[0]


def test_command_reports_and_exits_2(tmp_path, capsys):
    assert main(["check-bundle", "fibsem_mitochondria_segmentation", "--parity", "false"]) == 0
    assert "weights        ok" in capsys.readouterr().out
    bundle = copy_bundle("tem_nuclei_segmentation", tmp_path)
    (bundle / "LICENSE").unlink()
    assert main(["check-bundle", str(bundle), "--parity", "false"]) == 2
    captured = capsys.readouterr()
    assert "LICENSE: missing" in captured.out and "1 problem(s), listed above" in captured.err
    assert main(["check-bundle", str(bundle)]) == 2  # parity builds the network: an outside bundle needs trust
    assert "--trust_bundle" in capsys.readouterr().err
