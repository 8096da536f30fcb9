#!/usr/bin/env python
"""Write a bundle's ``large_files.yml``: every weight file under ``models/`` with its SHA-256 and size.

python scripts/update_large_files.py bundles/fibsem_mitochondria_segmentation
"""

from __future__ import annotations

import argparse
from pathlib import Path

from microseg.bundle import large_files_entries, write_large_files


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("bundle", type=Path)
    bundle = cli.parse_args().bundle
    entries = large_files_entries(bundle)
    write_large_files(bundle, entries)
    for entry in entries:
        print(f"{entry['hash_val']}  {entry['path']}  ({entry['size'] / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
