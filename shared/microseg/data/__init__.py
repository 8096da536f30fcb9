"""Data lists and datasets for the bundles; public data-set download and conversion in :mod:`microseg.data.download`."""

from __future__ import annotations

from microseg.data.datalist import list_inputs
from microseg.data.slice_dataset import SliceDataset, context_indices

__all__ = ["SliceDataset", "context_indices", "list_inputs"]
