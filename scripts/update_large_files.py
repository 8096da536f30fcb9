#!/usr/bin/env python
"""Write a bundle's ``large_files.yml``: every weight file under ``models/`` with its SHA-256 and size.

python scripts/update_large_files.py bundles/fibsem_mitochondria_segmentation
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import yaml

WEIGHT_SUFFIXES = (".pt", ".ts", ".onnx", ".pt2")
SKIPPED = ("checkpoint_last.pt",)


def large_files(bundle: Path) -> list[dict]:
    entries = []
    for path in sorted((bundle / "models").iterdir()):
        if path.suffix in WEIGHT_SUFFIXES and path.name not in SKIPPED:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries.append(
                {"path": f"models/{path.name}", "hash_val": digest, "hash_type": "sha256", "size": path.stat().st_size}
            )
    return entries


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("bundle", type=Path)
    bundle = cli.parse_args().bundle
    entries = large_files(bundle)
    header = "# Weight files of this bundle, shipped in the repository; verify with sha256sum.\n"
    (bundle / "large_files.yml").write_text(header + yaml.safe_dump({"large_files": entries}, sort_keys=False))
    for entry in entries:
        print(f"{entry['hash_val']}  {entry['path']}  ({entry['size'] / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
