"""Download, checksum and unpacking against a local HTTP server on 127.0.0.1 (no outside network)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import numpy as np
import pytest
import tifffile

from microseg.data.download import DATASETS, DatasetSpec, Resource, download_dataset, safe_extract
from microseg.errors import MicrosegInputError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _lucchi_like_zip(path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("training", "testing"):
            image = io.BytesIO()
            tifffile.imwrite(image, np.random.default_rng(0).integers(0, 255, (3, 16, 16), dtype=np.uint8))
            zf.writestr(f"lucchi/{name}.tif", image.getvalue())
            mask = io.BytesIO()
            tifffile.imwrite(mask, np.zeros((3, 16, 16), np.uint8))
            zf.writestr(f"lucchi/{name}_groundtruth.tif", mask.getvalue())
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _spec(url, sha256):
    return DatasetSpec(
        "lucchi-test",
        "test",
        url,
        "test",
        (Resource(url, "lucchi.zip", sha256, extract=True),),
        layout=DATASETS["lucchi"].layout,
    )


def test_download_verify_unpack_and_layout(server, tmp_path):
    root, base = server
    digest = _lucchi_like_zip(root / "lucchi.zip")
    dest = download_dataset(_spec(f"{base}/lucchi.zip", digest), tmp_path / "data")
    assert sorted(p.name for p in dest.glob("*.tif")) == [
        "testing.tif",
        "testing_groundtruth.tif",
        "training.tif",
        "training_groundtruth.tif",
    ]
    assert tifffile.imread(dest / "training.tif").shape == (3, 16, 16)
    download_dataset(_spec(f"{base}/lucchi.zip", digest), tmp_path / "data")  # verified copy reused


def test_checksum_mismatch_keeps_nothing(server, tmp_path):
    root, base = server
    _lucchi_like_zip(root / "lucchi.zip")
    with pytest.raises(MicrosegInputError, match="does not match the expected"):
        download_dataset(_spec(f"{base}/lucchi.zip", "0" * 64), tmp_path / "data")
    assert list((tmp_path / "data" / "downloads").iterdir()) == []


def test_unreachable_url(tmp_path, server):
    _, base = server
    with pytest.raises(MicrosegInputError, match="could not download"):
        download_dataset(_spec(f"{base}/missing.zip", None), tmp_path / "data")


def test_sha256_pin_overrides(server, tmp_path):
    root, base = server
    _lucchi_like_zip(root / "lucchi.zip")
    with pytest.raises(MicrosegInputError, match="does not match"):
        download_dataset(_spec(f"{base}/lucchi.zip", None), tmp_path / "d", sha256={"lucchi.zip": "1" * 64})


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt"])
def test_path_traversal_refused(tmp_path, name):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(name, "x")
    with pytest.raises(MicrosegInputError, match="outside"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_tar_symlink_escape_refused(tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tf.addfile(info)
    with pytest.raises(MicrosegInputError, match="outside"):
        safe_extract(archive, tmp_path / "out")


def test_registry_points_at_official_hosts():
    assert set(DATASETS) == {"lucchi", "glas", "dsb2018", "cdeep3m_mito", "isbi2012"}
    assert all(r.url.startswith(("http://", "https://")) for s in DATASETS.values() for r in s.resources)
    with pytest.raises(MicrosegInputError, match="unknown data set"):
        download_dataset("nope", "x")


def test_cdeep3m_archive_is_laid_out_for_the_sbem_bundle(server, tmp_path):
    root, base = server
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for z in (10, 11):
            zf.writestr(f"cdeep3m-master/mito_testsample/training/images/images.{z:03d}.png", b"png")
            zf.writestr(f"cdeep3m-master/mito_testsample/training/labels/mitos_3D.{z:03d}.png", b"png")
    (root / "cdeep3m-master.zip").write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    resource = Resource(f"{base}/cdeep3m-master.zip", "cdeep3m-master.zip", digest, extract=True)
    spec = DatasetSpec("c", "test", base, "test", (resource,), layout=DATASETS["cdeep3m_mito"].layout)
    dest = download_dataset(spec, tmp_path / "data")
    assert sorted(p.name for p in (dest / "training" / "labels").iterdir()) == ["mitos_3D.010.png", "mitos_3D.011.png"]
    assert DATASETS["cdeep3m_mito"].bundle == DATASETS["isbi2012"].bundle == "sbem_organelle_segmentation"
