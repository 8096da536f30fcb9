"""Data lists and datasets for the bundles; public data-set download and conversion in :mod:`microseg.data.download`."""

from __future__ import annotations

from microseg.data.batch import TolerantDataset, pending_inputs, settings_fingerprint
from microseg.data.datalist import (
    images_by_stem,
    list_image_label_pairs,
    list_inputs,
    split_every,
    take_subset,
)
from microseg.data.dsb2018 import dsb2018_validation_ids, is_dsb2018_layout, list_dsb2018
from microseg.data.glas import glas_split, list_glas, read_glas_grades
from microseg.data.slice_dataset import SliceDataset, context_indices
from microseg.data.synthetic import synthetic_tem_cell, write_synthetic_tem

__all__ = [
    "SliceDataset",
    "TolerantDataset",
    "context_indices",
    "dsb2018_validation_ids",
    "glas_split",
    "images_by_stem",
    "is_dsb2018_layout",
    "list_dsb2018",
    "list_glas",
    "list_image_label_pairs",
    "list_inputs",
    "pending_inputs",
    "read_glas_grades",
    "settings_fingerprint",
    "split_every",
    "synthetic_tem_cell",
    "take_subset",
    "write_synthetic_tem",
]
