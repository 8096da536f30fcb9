#!/usr/bin/env python
"""Store a bundle's ``models/model.pt`` with float16 tensors (half the file size).

The networks still run in float32: ``load_state_dict`` casts the stored values back. Re-run the bundle's
evaluation afterwards, since the figures of a model card must come from the weights as shipped.

python scripts/half_precision_weights.py bundles/he_gland_segmentation
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch


def halve(path: Path) -> tuple[int, int]:
    """Rewrite ``path`` (a state dict, or ``{"model": state_dict}``) with float16 floating tensors; return the
    file sizes before and after."""
    before = path.stat().st_size
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    halved = {k: v.half() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in state.items()}
    tmp = path.with_name(path.name + ".partial")
    torch.save(halved, tmp)
    os.replace(tmp, path)
    return before, path.stat().st_size


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("bundle", type=Path)
    before, after = halve(cli.parse_args().bundle / "models" / "model.pt")
    print(f"models/model.pt: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
