"""Data lists and datasets for the bundles; public data-set download and conversion in :mod:`microseg.data.download`."""

from __future__ import annotations

from microseg.data.datalist import list_inputs
from microseg.data.dsb2018 import dsb2018_validation_ids, is_dsb2018_layout, list_dsb2018
from microseg.data.glas import glas_split, list_glas, read_glas_grades
from microseg.data.slice_dataset import SliceDataset, context_indices

__all__ = [
    "SliceDataset",
    "context_indices",
    "dsb2018_validation_ids",
    "glas_split",
    "is_dsb2018_layout",
    "list_dsb2018",
    "list_glas",
    "list_inputs",
    "read_glas_grades",
]
