"""scripts/bench_scaling.py: the child process's own peak memory (not its parent's), and one small plane end to end
on ONNX Runtime (slow)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "bench_scaling.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_scaling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(SCRIPT.parent))  # it imports tune_thresholds from its folder
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def test_peak_rss_follows_an_allocation():
    peak_rss = _module().peak_rss
    before = peak_rss()
    block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, every page touched
    assert peak_rss() - before >= 60 * 2**20 or before > 64 * 2**20 + block.nbytes  # a peak already higher is kept


def test_peak_rss_of_a_child_is_its_own_not_its_parents():
    """``ru_maxrss`` would report the parent's size in a child started by fork + exec; ``peak_rss`` must not."""
    ballast = np.ones(300 * 2**20, np.uint8)  # the parent holds 300 MiB more than a bare interpreter
    code = f"import sys; sys.path.insert(0, {str(SCRIPT.parent)!r}); import bench_scaling as b; print(b.peak_rss())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(child.stdout.strip().splitlines()[-1]) < ballast.nbytes


@pytest.mark.slow
def test_bench_scaling_on_onnx_runtime_prints_the_table(tmp_path):
    table = tmp_path / "scaling.json"
    command = [sys.executable, str(SCRIPT), "sbem_organelle_segmentation", "--runtime", "onnx", "--sizes", "512"]
    command += ["--plane", "0", "0", "--json", str(table), "--set", "variant=deepem3d_1fm", "tta=none"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "runtime onnx" in result.stdout and " 512x512 " in result.stdout
    (row,) = json.loads(table.read_text())["rows"]
    assert row["seconds"] > 0 and 0 < row["working_mb"] < row["peak_rss_mb"] < 2048
