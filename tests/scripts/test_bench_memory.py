"""The memory-under-load script runs a bundle over a folder in one process and prints the peak per checkpoint."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_bench_memory_prints_the_peak_after_each_checkpoint(tmp_path):
    command = [sys.executable, str(REPO / "scripts" / "bench_memory.py"), "--count", "6", "--checkpoints", "2,6"]
    result = subprocess.run([*command, "--size", "32", "--workdir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["2", "6"] and all(float(row[1]) > 0 for row in rows)
    assert "peak growth from 2 to 6 images" in result.stdout
    assert len(list((tmp_path / "masks").glob("*_seg.tif"))) == 6
