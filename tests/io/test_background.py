"""BackgroundWriter: writes in order on one thread, bounded, input errors skip that input's later work and are
reported, other errors stop the run; with InferenceManifest an input is recorded only after its files."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import torch
from monai.data import MetaTensor

from microseg.data.batch import read_manifest
from microseg.errors import MicrosegInputError
from microseg.handlers import InferenceManifest
from microseg.io import BackgroundWriter


def test_work_runs_in_order_while_the_caller_goes_on():
    writer, done = BackgroundWriter(max_pending=3), []
    release = threading.Event()
    writer.submit("a", lambda: (release.wait(5), done.append("a")))
    writer.submit("b", done.append, "b")
    assert done == []  # both queued, neither waited for ("a" holds the thread until released)
    release.set()
    assert writer.wait() == [] and done == ["a", "b"]
    writer.close()


def test_submit_blocks_while_max_pending_writes_wait():
    writer, release = BackgroundWriter(max_pending=1), threading.Event()
    writer.submit("a", release.wait, 5)
    blocked = threading.Thread(target=writer.submit, args=("b", lambda: None))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # the second write waits for a free slot
    release.set()
    blocked.join(5)
    assert not blocked.is_alive() and writer.wait() == []
    with pytest.raises(ValueError, match="max_pending"):
        BackgroundWriter(max_pending=0)


def test_an_input_error_skips_that_inputs_later_work_and_is_reported():
    writer, done = BackgroundWriter(), []

    def fail():
        raise MicrosegInputError("a.png: a 2D input gave an output of shape (2, 4, 4)")

    writer.submit("a", fail)
    writer.submit("a", done.append, "record a")  # its manifest record: skipped
    writer.submit("b", done.append, "record b")
    assert writer.wait() == [("a", "a.png: a 2D input gave an output of shape (2, 4, 4)")]
    assert done == ["record b"] and writer.wait() == []


def test_any_other_error_stops_the_writer_and_reaches_the_caller():
    writer, done = BackgroundWriter(), []
    writer.submit("a", lambda: 1 / 0)
    writer._last.result()  # the thread has run it
    with pytest.raises(ZeroDivisionError):
        writer.submit("b", done.append, "b")
    writer.submit("c", lambda: 1 / 0)
    writer.submit("d", done.append, "d")  # after a failure nothing else is written
    with pytest.raises(ZeroDivisionError):
        writer.wait()
    assert done == []


def _item(tmp_path, name: str) -> dict:
    image = MetaTensor(torch.zeros(1, 4, 4), meta={"filename_or_obj": str(tmp_path / f"{name}.tif")})
    return {"image": image, "pred_path": str(tmp_path / "out" / f"{name}_seg.tif")}


def test_the_manifest_records_an_input_only_after_its_files(tmp_path):
    writer, release = BackgroundWriter(max_pending=4), threading.Event()  # room for two files and two records
    out = tmp_path / "out"
    out.mkdir()
    manifest = InferenceManifest(out, {"threshold": 0.5}, writer=writer)
    engine = SimpleNamespace(state=SimpleNamespace(output=[_item(tmp_path, "a"), _item(tmp_path, "b")]))

    def bad_write():
        raise MicrosegInputError("b.tif: cannot be written")

    writer.submit(str(tmp_path / "a.tif"), release.wait, 5)  # a's file, still being written
    writer.submit(str(tmp_path / "b.tif"), bad_write)
    manifest(engine)
    assert read_manifest(out)[1] == {}  # nothing recorded before a's file is on disk
    release.set()
    manifest._wait_for_writer(engine)
    assert list(read_manifest(out)[1]) == [str(tmp_path / "a.tif")]
    assert engine.state.failed_inputs == [(str(tmp_path / "b.tif"), "b.tif: cannot be written")]
    assert writer._executor is None  # the thread is stopped at the end of the run
