"""Readers and atomic writers for microscopy images, stacks, folders of slices and HDF5 datasets."""

from __future__ import annotations

from microseg.io.paths import is_hdf5_path, list_slice_files, natural_sort_key, split_hdf5_path
from microseg.io.readers import (
    HDF5Reader,
    InstanceMasksReader,
    LoadedImage,
    MicroscopyReader,
    PlainImageReader,
    SliceFolderReader,
    TiffReader,
    read_image,
)
from microseg.io.rle import (
    SUBMISSION_HEADER,
    labels_to_rles,
    read_rle_csv,
    rle_decode,
    rle_encode,
    rles_to_labels,
    write_submission,
)
from microseg.io.writers import (
    atomic_output,
    output_path_like,
    write_hdf5,
    write_like,
    write_png,
    write_slices,
    write_tiff,
)

__all__ = [
    "SUBMISSION_HEADER",
    "HDF5Reader",
    "InstanceMasksReader",
    "LoadedImage",
    "MicroscopyReader",
    "PlainImageReader",
    "SliceFolderReader",
    "TiffReader",
    "atomic_output",
    "is_hdf5_path",
    "labels_to_rles",
    "list_slice_files",
    "natural_sort_key",
    "output_path_like",
    "read_image",
    "read_rle_csv",
    "rle_decode",
    "rle_encode",
    "rles_to_labels",
    "split_hdf5_path",
    "write_hdf5",
    "write_like",
    "write_png",
    "write_slices",
    "write_submission",
    "write_tiff",
]
