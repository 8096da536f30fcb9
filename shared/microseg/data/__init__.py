"""Data lists and datasets for the bundles; public data-set download and conversion in :mod:`microseg.data.download`.

Names load from their submodule on first use: :func:`list_inputs` works without importing torch.
"""

from __future__ import annotations

from microseg._lazy import lazy_exports

_EXPORTS = {
    "TolerantDataset": "batch",
    "pending_inputs": "batch",
    "settings_fingerprint": "batch",
    "images_by_stem": "datalist",
    "list_image_label_pairs": "datalist",
    "list_inputs": "datalist",
    "split_every": "datalist",
    "take_subset": "datalist",
    "dsb2018_validation_ids": "dsb2018",
    "is_dsb2018_layout": "dsb2018",
    "list_dsb2018": "dsb2018",
    "glas_split": "glas",
    "list_glas": "glas",
    "read_glas_grades": "glas",
    "SliceDataset": "slice_dataset",
    "context_indices": "slice_dataset",
    "synthetic_tem_cell": "synthetic",
    "write_synthetic_tem": "synthetic",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
