"""``microseg export --format bioimageio``: a BioImage Model Zoo package of a bundle.

The default run checks the package's content and that its test output follows from its test input through the
described preprocessing, the ONNX weights and the postprocessing (what ``bioimageio test`` checks for each weight
format). ``bioimageio test`` itself (``pip install -e .[bioimageio]``) runs under ``-m slow``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import BUNDLES, bundle_with_weights, default_models, single_model
from microseg.cli import main
from microseg.errors import MicrosegInputError
from microseg.ops.image import percentile_normalize
from microseg.ops.labels import sigmoid

ALL_BUNDLES = sorted(p.parent.parent.name for p in BUNDLES.glob("*/configs/metadata.json"))
SHIPS_EXPORTS = {n for n in ALL_BUNDLES if all((default_models(n) / f).is_file() for f in ("model.ts", "model.onnx"))}
NAME = "fibsem_mitochondria_segmentation"  # the smallest bundle that ships weights (1.6 M parameters)


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bioimageio") / "fibsem.zip"
    assert main(["export", "--format", "bioimageio", NAME, str(path)]) == 0
    return path


def _files(package: Path, folder: Path) -> tuple[dict, Path]:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder)
    return yaml.safe_load((folder / "rdf.yaml").read_text()), folder


def _check_package(rdf: dict, folder: Path) -> None:
    """What every package must hold: the description's required fields, and each referenced file with its digest."""
    assert rdf["type"] == "model" and rdf["format_version"].startswith("0.5.")
    assert rdf["license"] == "Apache-2.0" and rdf["authors"] and rdf["version"]
    assert all("doi" in c or "url" in c for c in rdf["cite"]) and rdf["cite"]
    assert (folder / rdf["documentation"]).read_text().startswith("# ")
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript", "onnx"}
    (image,), (pred,) = rdf["inputs"], rdf["outputs"]
    assert [a["type"] for a in image["axes"]] == ["batch", "channel", "space", "space"]
    assert [a["type"] for a in pred["axes"]] == ["batch", "channel", "space", "space"]
    referenced = [image["test_tensor"], pred["test_tensor"], image["sample_tensor"], pred["sample_tensor"]]
    referenced += [w for w in rdf["weights"].values()] + [rdf["weights"]["pytorch_state_dict"]["dependencies"]]
    for entry in referenced:
        assert hashlib.sha256((folder / entry["source"]).read_bytes()).hexdigest() == entry["sha256"], entry
    assert all((folder / c).is_file() for c in rdf["covers"])
    assert all((folder / a["source"]).is_file() for a in rdf["attachments"])


def test_package_describes_the_bundle(package, tmp_path):
    rdf, folder = _files(package, tmp_path)
    _check_package(rdf, folder)
    (image,), (pred,) = rdf["inputs"], rdf["outputs"]
    assert image["preprocessing"] == [
        {
            "id": "scale_range",
            "kwargs": {"axes": ["y", "x"], "min_percentile": 1.0, "max_percentile": 99.0, "eps": 1e-6},
        }
    ]
    assert pred["postprocessing"] == [{"id": "sigmoid"}]


@pytest.mark.parametrize(
    "name",
    [  # the default run packages the bundles with one shipped model; the others (export or SBEM's default) are slow
        pytest.param(n, marks=() if n in SHIPS_EXPORTS and single_model(n) else pytest.mark.slow) for n in ALL_BUNDLES
    ],
)
def test_every_bundle_packages_or_says_why_not(name, tmp_path):
    from microseg.bioimageio import export_bioimageio

    bundle = bundle_with_weights(name, tmp_path)
    if (
        json.loads((bundle / "configs" / "metadata.json").read_text())["network_data_format"]["outputs"]["pred"]["type"]
        == "object"
    ):
        with pytest.raises(MicrosegInputError, match="detector"):
            export_bioimageio(bundle, tmp_path / "x.zip")
        return
    rdf, folder = _files(export_bioimageio(bundle, tmp_path / "x.zip"), tmp_path / "unzipped")
    _check_package(rdf, folder)
    assert rdf["outputs"][0]["postprocessing"][0]["id"] in ("sigmoid", "softmax")


def test_test_output_follows_from_the_description(package, tmp_path):
    import onnxruntime as ort

    rdf, folder = _files(package, tmp_path)
    (image,) = rdf["inputs"]
    kwargs = image["preprocessing"][0]["kwargs"]
    x = percentile_normalize(np.load(folder / "test_input.npy"), kwargs["min_percentile"], kwargs["max_percentile"])
    session = ort.InferenceSession(str(folder / rdf["weights"]["onnx"]["source"]), providers=["CPUExecutionProvider"])
    y = sigmoid(session.run(None, {session.get_inputs()[0].name: x})[0])
    np.testing.assert_allclose(y, np.load(folder / "test_output.npy"), atol=1e-4)


def test_detectors_and_bundles_without_weights_are_refused(tmp_path):
    from microseg.bioimageio import export_bioimageio

    with pytest.raises(MicrosegInputError, match="no fixed-shape bioimage.io output"):
        export_bioimageio("he_gland_instance_segmentation", tmp_path / "x.zip")
    with pytest.raises(MicrosegInputError, match=r"\.zip suffix"):
        export_bioimageio(NAME, tmp_path / "x.tar")
    assert main(["export", "--format", "bioimageio", NAME]) == 2


@pytest.mark.slow
def test_package_passes_bioimageio_test(package):
    core = pytest.importorskip("bioimageio.core")
    summary = core.test_model(str(package))
    assert summary.status == "passed", summary.format()
