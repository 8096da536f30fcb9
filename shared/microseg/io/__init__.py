"""Readers and atomic writers for microscopy images, stacks, folders of slices and HDF5 datasets.

Names load from their submodule on first use: :mod:`microseg.io.load`, :mod:`microseg.io.writers`,
:mod:`microseg.io.background` and :mod:`microseg.io.rle` need neither torch nor MONAI; the MONAI ``ImageReader``
classes live in :mod:`microseg.io.readers`.
"""

from __future__ import annotations

from microseg._lazy import lazy_exports

_EXPORTS = {
    "is_hdf5_path": "paths",
    "list_slice_files": "paths",
    "natural_sort_key": "paths",
    "split_hdf5_path": "paths",
    "LoadedImage": "load",
    "read_image": "load",
    "HDF5Reader": "readers",
    "InstanceMasksReader": "readers",
    "MicroscopyReader": "readers",
    "PlainImageReader": "readers",
    "SliceFolderReader": "readers",
    "TiffReader": "readers",
    "SUBMISSION_HEADER": "rle",
    "labels_to_rles": "rle",
    "read_rle_csv": "rle",
    "rle_decode": "rle",
    "rle_encode": "rle",
    "rles_to_labels": "rle",
    "write_submission": "rle",
    "BackgroundWriter": "background",
    "atomic_output": "writers",
    "output_path_like": "writers",
    "write_hdf5": "writers",
    "write_like": "writers",
    "write_png": "writers",
    "write_prediction": "writers",
    "write_slices": "writers",
    "write_tiff": "writers",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
