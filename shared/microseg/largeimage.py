"""Segment images and volumes larger than memory: tiles read lazily, predicted, and written into a chunked output.

``microseg segment-large BUNDLE INPUT OUTPUT.h5|OUTPUT.zarr`` (:func:`segment_large`) runs a bundle whose
``inference.json`` uses :class:`~microseg.inferers.SliceTiledInferer` (sigmoid probabilities, one threshold) on a
TIFF (uncompressed, or compressed and read through Zarr), an HDF5 dataset, a Zarr array or a folder of 2D slices,
without ever holding a whole plane:

* each plane is cut into *blocks* (``block_size``, 2048 by default); for a block, the tiles of the bundle's tiling
  of the *whole plane* that touch it are read (a window of the input a tile larger than the block each side, with the
  adjacent slices a 2.5D network reads), normalised, predicted in batches, blended with the same weights, and the
  block is written to the output (``probability`` float32, optional, and ``mask`` uint8, chunked by block). Blending
  the whole plane's tiles makes the result the same as predicting the plane in memory (tiles on a block border are
  predicted for both blocks: about ``2 * tile / block`` more work);
* normalisation (``PercentileNormalize``) uses each plane's percentiles, computed exactly from a streamed histogram
  for integer images (a strided sample of 16 M pixels for float planes larger than that);
* reading of the next block, prediction of this one and writing of the previous one overlap (two threads), with at
  most two input windows and two results in memory at once;
* under ``torchrun`` the blocks are shared out by rank (``rank, rank + world, ...``); every rank reads the input,
  rank 0 gathers the results and writes them (gloo on CPUs, NCCL on GPUs; several machines share one volume the same
  way). The output does not depend on the number of processes (bit for bit at equal thread counts);
* ``runtime="onnx"`` predicts with the bundle's ``model.onnx`` on ONNX Runtime, without PyTorch or MONAI.

Memory is set by the block size and the batch of tiles, not by the image (measured with DeepEM3D-1fm on ONNX
Runtime, 4 tiles per batch, 2 CPU cores: a 16000x10000 plane peaks at 438 MB for the whole process with blocks of
2048, 335 MB with blocks of 1024, against 610 MB for its float32 probability map; the model card of the SBEM bundle
has the table).

Not applied out of core: post-processing other than the threshold (``RemoveSmallObjectsd``: a bundle that removes
small objects in memory keeps them here; a warning says so); whole-image test-time augmentation (``flips``,
``dihedral``) is applied per tile instead, which differs slightly from the in-memory result (``dihedral_z`` is per
tile in both, and equal).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microseg.errors import MicrosegInputError
from microseg.io.paths import is_hdf5_path, split_hdf5_path
from microseg.ops.tiling import context_indices, importance_map, tile_starts
from microseg.progress import progress

__all__ = [
    "Block",
    "ChunkedOutput",
    "LazyStack",
    "blocks_of",
    "open_lazy",
    "plane_percentiles",
    "segment_large",
]

logger = logging.getLogger(__name__)
FLOAT_SAMPLE = 1 << 24  # pixels sampled for the percentiles of a float plane larger than this
BAND_PIXELS = 1 << 22  # pixels read at once when streaming a plane
_NOTHING = (None, None, None)  # what a rank without a block this round contributes to the gather
_TRIM = None  # glibc's malloc_trim once looked up (False where there is none)


class LazyStack:
    """A stack ``(Z, H, W)`` read region by region. ``source`` is any array-like with NumPy slicing (an h5py
    dataset, a Zarr array, a memory map) of shape ``(H, W)`` or ``(Z, H, W)``, or a list of 2D slice files."""

    def __init__(self, source, name: str, closer: Callable[[], None] | None = None) -> None:
        self.name, self._closer = name, closer
        if isinstance(source, list):
            self._files, self._source = source, None
            from microseg.io.load import read_image

            first = read_image(source[0])
            if first.channel_last or first.array.ndim != 2:
                raise MicrosegInputError(f"{source[0]}: expected 2D greyscale slices, got shape {first.array.shape}.")
            self.shape, self.dtype = (len(source), *first.array.shape), first.array.dtype
            self._cache: tuple[int, np.ndarray] | None = (0, first.array)
        else:
            self._files, self._source, self._cache = None, source, None
            shape = tuple(source.shape)
            if len(shape) not in (2, 3):
                raise MicrosegInputError(f"{name}: expected a 2D image or a stack (Z, H, W), got shape {shape}.")
            self.shape, self.dtype = (1, *shape) if len(shape) == 2 else shape, np.dtype(source.dtype)
            self._flat = len(shape) == 2
        self._lock = threading.Lock()

    def read(self, z: int, rows: slice, cols: slice) -> np.ndarray:
        """Slice ``z``, region ``rows x cols``, as a NumPy array of the stored dtype."""
        with self._lock:  # h5py and slice caching are not thread-safe
            if self._files is not None:
                if self._cache is None or self._cache[0] != z:  # a PNG slice decodes whole: one plane at a time
                    from microseg.io.load import read_image

                    self._cache = (z, read_image(self._files[z]).array)
                return np.array(self._cache[1][rows, cols])
            region = self._source[rows, cols] if self._flat else self._source[z, rows, cols]
            return np.asarray(region)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()


class _ContiguousTiff:
    """Regions of an uncompressed, contiguous TIFF read with ``readinto`` (whole rows, then the columns cut), so that
    neither the file nor a memory map of it is held (a memory map's touched pages would count as the process's)."""

    def __init__(self, path: str, offset: int, shape: tuple[int, ...], dtype) -> None:
        self.path, self.offset, self.shape, self.dtype = path, int(offset), shape, np.dtype(dtype)

    def __getitem__(self, index: tuple) -> np.ndarray:
        *z, rows, cols = index
        height, width = self.shape[-2:]
        start, stop, _ = rows.indices(height)
        plane = (z[0] if z else 0) * height * width
        out = np.empty((stop - start, width), self.dtype)
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + (plane + start * width) * self.dtype.itemsize)
            handle.readinto(memoryview(out).cast("B"))
        return out[:, cols]


def _open_tiff(path: str) -> LazyStack:
    import tifffile

    handle = tifffile.TiffFile(path)
    series = handle.series[0]
    if series.axes[-1] == "S":
        handle.close()
        raise MicrosegInputError(f"{path}: colour TIFF; out-of-core segmentation takes greyscale images and stacks.")
    offset = series.dataoffset  # uncompressed and contiguous: rows are read from the file directly
    if offset is not None:
        handle.close()
        return LazyStack(_ContiguousTiff(path, offset, tuple(series.shape), series.dtype), path)
    try:
        import zarr
    except ImportError as error:
        handle.close()
        raise MicrosegInputError(
            f"{path}: this TIFF is compressed or tiled; reading parts of it needs Zarr (pip install zarr), or save it "
            "uncompressed."
        ) from error
    store = series.aszarr()
    array = zarr.open(store, mode="r")
    if not hasattr(array, "shape"):  # a multiscale group: level 0
        array = array[next(iter(array.array_keys()))]

    def close() -> None:
        store.close()
        handle.close()

    return LazyStack(array, path, close)


def open_lazy(path: str | os.PathLike) -> LazyStack:
    """Open an image or stack for region reads: TIFF (``.tif``/``.tiff``), HDF5 (``file.h5:/dataset``), Zarr
    (``.zarr`` folder or ``folder.zarr/array``) or a folder of 2D slices (TIFF/PNG/BMP/JPEG, natural order)."""
    text = os.fspath(path)
    if ".zarr" in text:
        try:
            import zarr
        except ImportError as error:
            raise MicrosegInputError(f"{text}: reading Zarr needs the zarr package (pip install zarr).") from error
        node = zarr.open(text, mode="r")
        if not hasattr(node, "shape"):
            names = list(node.array_keys())
            if len(names) != 1:
                raise MicrosegInputError(f"{text}: a Zarr group with arrays {names}; name one, e.g. {text}/{names[0]}.")
            node = node[names[0]]
        return LazyStack(node, text)
    if is_hdf5_path(text):
        import h5py

        from microseg.io.load import _only_dataset

        file_name, dataset = split_hdf5_path(text)
        if not Path(file_name).is_file():
            raise MicrosegInputError(f"{file_name}: no such file; check the path.")
        h5 = h5py.File(file_name, "r")
        name = dataset or _only_dataset(h5, file_name)
        return LazyStack(h5[name], text, h5.close)
    if Path(text).is_dir():
        from microseg.io.paths import list_slice_files

        return LazyStack([str(p) for p in list_slice_files(text)], text)
    if text.lower().endswith((".tif", ".tiff")):
        if not Path(text).is_file():
            raise MicrosegInputError(f"{text}: no such file; check the path.")
        return _open_tiff(text)
    raise MicrosegInputError(
        f"{text}: out-of-core segmentation reads TIFF, HDF5 (file.h5:/dataset), Zarr (.zarr) or a folder of slices."
    )


def _exact_percentiles(counts: np.ndarray, offset: int, qs: Sequence[float]) -> list[float]:
    """``np.percentile(..., method="linear")`` of the values whose histogram is ``counts`` (value ``offset + i``),
    computed as NumPy computes it (float64), so that the result is bit-identical."""
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    result = []
    for q in qs:
        index = (n - 1) * (np.float64(q) / 100.0)
        low = int(np.floor(index))
        high = min(low + 1, n - 1)
        a = np.float64(offset + np.searchsorted(cumulative, low, side="right"))
        b = np.float64(offset + np.searchsorted(cumulative, high, side="right"))
        gamma = index - low
        result.append(float(a + (b - a) * gamma if gamma < 0.5 else b - (b - a) * (1 - gamma)))
    return result


def _bands(height: int, width: int) -> Iterator[slice]:
    rows = max(1, BAND_PIXELS // max(width, 1))
    for start in range(0, height, rows):
        yield slice(start, min(start + rows, height))


def plane_percentiles(stack: LazyStack, z: int, lower: float, upper: float) -> tuple[float, float]:
    """The ``lower`` and ``upper`` percentiles of plane ``z``, read in bands: exact for integer images (equal to
    ``np.percentile`` of the whole plane), from every k-th pixel (about 16 M) for larger float planes."""
    height, width = stack.shape[1:]
    every = slice(None)
    if np.issubdtype(stack.dtype, np.integer):
        info = np.iinfo(stack.dtype)
        if info.max - info.min < 1 << 24:
            counts = np.zeros(int(info.max) - int(info.min) + 1, np.int64)
            for rows in _bands(height, width):
                values = stack.read(z, rows, every).astype(np.int64).ravel() - int(info.min)
                counts += np.bincount(values, minlength=len(counts))
            low, high = _exact_percentiles(counts, int(info.min), (lower, upper))
            return low, high
    step = max(1, math.ceil(height * width / FLOAT_SAMPLE))
    if step == 1:
        plane = stack.read(z, every, every).astype(np.float32)
    else:
        stride = max(1, math.isqrt(step))
        plane = np.concatenate(
            [stack.read(z, rows, every)[::stride, ::stride].ravel() for rows in _bands(height, width)]
        ).astype(np.float32)
        logger.info("%s slice %d: percentiles from every %dth row and column", stack.name, z, stride)
    low, high = np.percentile(plane.reshape(1, -1), [lower, upper], axis=1, keepdims=True).ravel()
    return float(low), float(high)


class ChunkedOutput:
    """``probability`` (float32, optional) and ``mask`` (uint8 0/1) arrays ``(Z, H, W)`` in a chunked HDF5 file or
    Zarr group, written block by block. Chunks are ``(1, chunk, chunk)``, compressed (gzip / Zarr's default)."""

    def __init__(
        self, path: str | os.PathLike, shape: Sequence[int], chunk: int, probabilities: bool, attrs: dict
    ) -> None:
        self.path, self.shape = os.fspath(path), tuple(int(s) for s in shape)
        chunks = (1, min(chunk, self.shape[1]), min(chunk, self.shape[2]))
        names = {"mask": np.uint8, **({"probability": np.float32} if probabilities else {})}
        if self.path.endswith(".zarr"):
            import zarr

            self._root = zarr.open_group(self.path, mode="w")
            self.arrays = {
                n: self._root.create_array(n, shape=self.shape, chunks=chunks, dtype=d, fill_value=0)
                for n, d in names.items()
            }
            self._root.attrs.update(attrs)
            self._close = lambda: None
        elif self.path.endswith((".h5", ".hdf5")):
            import h5py

            self._root = h5py.File(self.path, "w")
            self.arrays = {
                n: self._root.create_dataset(n, shape=self.shape, chunks=chunks, dtype=d, compression="gzip")
                for n, d in names.items()
            }
            for key, value in attrs.items():
                self._root.attrs[key] = value
            self._close = self._root.close
        else:
            raise MicrosegInputError(f"{self.path}: the output must be an HDF5 file (.h5) or a Zarr folder (.zarr).")

    def write(self, z: int, rows: slice, cols: slice, probability: np.ndarray, mask: np.ndarray) -> None:
        self.arrays["mask"][z, rows, cols] = mask
        if "probability" in self.arrays:
            self.arrays["probability"][z, rows, cols] = probability

    def close(self) -> None:
        self._close()


@dataclass(frozen=True)
class Block:
    """One output block: slice ``z``, rows ``y0:y1`` and columns ``x0:x1``."""

    z: int
    y0: int
    y1: int
    x0: int
    x1: int


def blocks_of(shape: Sequence[int], block_size: int) -> list[Block]:
    """The blocks covering a stack ``(Z, H, W)``, slice by slice, row-major."""
    depth, height, width = shape
    return [
        Block(z, y, min(y + block_size, height), x, min(x + block_size, width))
        for z in range(depth)
        for y in range(0, height, block_size)
        for x in range(0, width, block_size)
    ]


@dataclass
class _Settings:
    roi: tuple[int, int]
    overlap: float
    mode: str
    sw_batch_size: int
    context: int
    threshold: float
    lower: float
    upper: float
    eps: float


class _Planner:
    """The whole plane's tile grid (MONAI's positions and Gaussian weights) and, per block, its tiles."""

    def __init__(self, height: int, width: int, settings: _Settings) -> None:
        self.roi = settings.roi
        self.starts = tile_starts((height, width), self.roi, settings.overlap)
        self.weights = importance_map(self.roi, settings.mode)

    def tiles(self, block: Block) -> list[tuple[int, int]]:
        (h, w) = self.roi
        return [
            (y, x) for y, x in self.starts if y < block.y1 and y + h > block.y0 and x < block.x1 and x + w > block.x0
        ]


def _tiling_settings(tiled, threshold: float, norms: list[dict]) -> _Settings:
    """:class:`_Settings` from a tiled inferer (``SliceTiledInferer`` or its NumPy twin ``TiledPredictor``: same
    attributes), the threshold and the arguments of the bundle's ``PercentileNormalize`` steps (one is needed)."""
    if len(norms) != 1:
        raise MicrosegInputError("out-of-core segmentation needs a bundle normalised by one PercentileNormalized.")
    norm = norms[0]
    return _Settings(
        roi=tuple(int(r) for r in tiled.roi_size),
        overlap=float(tiled.overlap),
        mode=str(tiled.mode),
        sw_batch_size=int(tiled.sw_batch_size),
        context=int(tiled.context),
        threshold=threshold,
        lower=float(norm.get("lower", 1.0)),
        upper=float(norm.get("upper", 99.0)),
        eps=float(norm.get("eps", 1e-6)),
    )


def _settings(parser) -> tuple[_Settings, object]:
    """Tiling, threshold and normalisation of a bundle's ``inference.json`` (a parsed MONAI ``ConfigParser``)."""
    from microseg.inferers.runtime import RuntimeInferer
    from microseg.inferers.tiled import SliceTiledInferer
    from microseg.transforms import PercentileNormalized

    runtime = parser.get_parsed_content("inferer")
    tiled = runtime.inferer if isinstance(runtime, RuntimeInferer) else runtime
    if not isinstance(tiled, SliceTiledInferer):
        raise MicrosegInputError(
            f"out-of-core segmentation needs a bundle that predicts with SliceTiledInferer; this one uses "
            f"{type(tiled).__name__}. Segment with `microseg segment` instead."
        )
    steps = parser.get_parsed_content("preprocessing").transforms
    norms = [
        {"lower": t.normalizer.lower, "upper": t.normalizer.upper, "eps": t.normalizer.eps}
        for t in steps
        if isinstance(t, PercentileNormalized)
    ]
    post = [type(t).__name__ for t in parser.get_parsed_content("postprocessing").transforms]
    if "RemoveSmallObjectsd" in post:
        logger.warning("the bundle removes small objects in memory; out of core they are kept (not block-local)")
    settings = _tiling_settings(tiled, float(parser.get_parsed_content("threshold")), norms)
    return settings, (runtime, tiled)


def _per_tile(tiled) -> list[tuple[int, int, bool]]:
    """The inferer's test-time augmentations as per-tile ``(quarter_turns, flip_width, reverse_slices)`` triples
    (whole-image modes applied per tile, see the module docstring)."""
    return tiled.tile_transforms or [(turns, flip, False) for turns, flip in tiled.transforms]


def _tile_function(parser, runtime, tiled, device):
    """Tiles ``(N, context, h, w)`` float32 -> ``(N, 1, h, w)`` float32 logits, as the in-memory path computes them:
    the bundle's back end, precision and test-time augmentation (whole-image modes applied per tile)."""
    import torch

    from microseg.bundle import load_weights
    from microseg.inferers.runtime import RuntimeInferer, resolve_precision
    from microseg.inferers.tiled import TileTTA

    network = parser.get_parsed_content("network")
    for handler in parser.get_parsed_content("handlers"):  # the bundle's CheckpointLoader(s)
        if type(handler).__name__ == "CheckpointLoader":
            for key, module in handler.load_dict.items():
                load_weights(module, handler.load_path, device, key)
    network.eval()
    if isinstance(runtime, RuntimeInferer):
        predictor = runtime.predictor(network, device)
        precision = resolve_precision(runtime.precision, device.type, runtime.backend)
    else:
        predictor, precision = network, "float32"
    tta = TileTTA(predictor, _per_tile(tiled), uncertainty=False)
    dtype = None if precision == "float32" else getattr(torch, precision)

    def predict(tiles: np.ndarray) -> np.ndarray:
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = tta(torch.from_numpy(tiles).to(device))
        return out.float().cpu().numpy()

    return predict


class _BlockReader:
    """The normalised input of a block: the window of the whole plane's tiles that touch it, ``context`` slices."""

    def __init__(self, stack: LazyStack, settings: _Settings, planner: _Planner) -> None:
        self.stack, self.settings, self.planner = stack, settings, planner
        self._percentiles: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def percentiles(self, z: int) -> tuple[float, float]:
        with self._lock:
            if z not in self._percentiles:
                self._percentiles[z] = plane_percentiles(self.stack, z, self.settings.lower, self.settings.upper)
            return self._percentiles[z]

    def __call__(self, block: Block) -> tuple[Block, list[tuple[int, int]], tuple[int, int], np.ndarray]:
        tiles = self.planner.tiles(block)
        h, w = self.settings.roi
        y0, x0 = min(y for y, _ in tiles), min(x for _, x in tiles)
        y1, x1 = max(y for y, _ in tiles) + h, max(x for _, x in tiles) + w
        slices = context_indices(block.z, self.stack.shape[0], self.settings.context)
        window = np.empty((len(slices), y1 - y0, x1 - x0), np.float32)
        for plane, z in zip(window, slices, strict=True):  # normalised in place: no plane-sized temporaries
            low, high = self.percentiles(int(z))
            plane[...] = self.stack.read(int(z), slice(y0, y1), slice(x0, x1))
            plane -= np.float32(low)
            plane /= np.float32(high - low + self.settings.eps)
        return block, tiles, (y0, x0), window


def _overlap(block: Block, y: int, x: int, h: int, w: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Where the tile at ``(y, x)`` of size ``h x w`` meets the block: slices into the block and into the tile."""
    ys, ye, xs, xe = max(y, block.y0), min(y + h, block.y1), max(x, block.x0), min(x + w, block.x1)
    return (slice(ys - block.y0, ye - block.y0), slice(xs - block.x0, xe - block.x0)), (
        slice(ys - y, ye - y),
        slice(xs - x, xe - x),
    )


def _predict_block(
    item: tuple[Block, list[tuple[int, int]], tuple[int, int], np.ndarray],
    planner: _Planner,
    settings: _Settings,
    predict: Callable[[np.ndarray], np.ndarray],
) -> tuple[Block, np.ndarray, np.ndarray]:
    """Blend the block's tiles as MONAI's ``sliding_window_inference`` blends them; probability and mask out."""
    block, tiles, (wy, wx), window = item
    h, w = settings.roi
    shape = (block.y1 - block.y0, block.x1 - block.x0)
    total, count = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for first in range(0, len(tiles), settings.sw_batch_size):
        batch = tiles[first : first + settings.sw_batch_size]
        inputs = np.stack([window[:, y - wy : y - wy + h, x - wx : x - wx + w] for y, x in batch])
        logits = predict(np.ascontiguousarray(inputs))[:, 0] * planner.weights
        for (y, x), tile in zip(batch, logits, strict=True):
            inside, part = _overlap(block, y, x, h, w)
            total[inside] += tile[part]
    for y, x in tiles:  # the count map sums the weights in MONAI's order too
        inside, part = _overlap(block, y, x, h, w)
        count[inside] += planner.weights[part]
    probability = total  # the sigmoid of total / count, computed in place (float32)
    np.divide(total, count, out=probability)
    np.negative(probability, out=probability)
    with np.errstate(over="ignore"):  # exp(-logit) overflows to inf for very negative logits: probability 0, right
        np.exp(probability, out=probability)
    probability += np.float32(1)
    np.reciprocal(probability, out=probability)
    return block, probability, (probability >= np.float32(settings.threshold)).astype(np.uint8)


def _torch_parts(root, rank: int, device: str | None, overrides: dict) -> tuple[_Settings, Callable]:
    """Settings and tile function of a bundle on PyTorch, on ``device`` (default: GPU ``rank`` when there are GPUs)."""
    import torch

    from microseg.bundle import load_parser

    if device is None:
        device = f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"
    parser = load_parser(root, **overrides, device=f"$torch.device('{device}')")
    settings, (runtime, tiled) = _settings(parser)
    return settings, _tile_function(parser, runtime, tiled, torch.device(device))


def _onnx_parts(bundle, providers, trust_bundle: bool, overrides: dict) -> tuple[_Settings, Callable]:
    """Settings and tile function of a bundle on ONNX Runtime (``model.onnx``, NumPy; PyTorch and MONAI never
    imported), the same as :func:`_settings` and :func:`_tile_function` give on PyTorch."""
    from microseg.onnx_infer import OnnxBundle
    from microseg.ops.tiling import TiledPredictor, TileTTA

    onnx = OnnxBundle(bundle, providers, trust_bundle, **overrides)
    tiled = onnx.inferer
    if not isinstance(tiled, TiledPredictor):
        raise MicrosegInputError("out-of-core segmentation needs a bundle that predicts with SliceTiledInferer.")
    norms = [c.arguments() for c in onnx.config.components("preprocessing") if c.name.endswith("PercentileNormalized")]
    settings = _tiling_settings(tiled, float(onnx.config.resolve("threshold")), norms)
    return settings, TileTTA(onnx.run_model, _per_tile(tiled), uncertainty=False)


def _release_freed_memory() -> None:
    """Hand memory freed since the last block back to the system (glibc ``malloc_trim``): without it the heap of a
    long run fragments and its resident size creeps up block after block (measured: +400 MB over 40 blocks of
    2048^2 with DeepEM3D). A no-op where the C library has no ``malloc_trim``."""
    global _TRIM
    if _TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


def _distributed() -> tuple[int, int]:
    """``(rank, world_size)``, initialising the process group under ``torchrun`` (gloo on CPU, NCCL on GPUs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _produce(
    work: list[Block], read: Callable, out: queue.Queue, slots: threading.Semaphore, stop: threading.Event
) -> None:
    """Read the blocks into ``out``, each once a slot is free (the consumer frees one per block it is done with)."""
    try:
        for block in work:
            slots.acquire()
            if stop.is_set():
                return
            out.put(read(block))
    except BaseException as error:  # handed to the main thread
        out.put(error)
    out.put(None)


def _consume(output: ChunkedOutput | None, incoming: queue.Queue, slots: threading.Semaphore, failures: list) -> None:
    """Write the results from ``incoming`` (after the first failure: drop them), freeing a slot for each."""
    while (item := incoming.get()) is not None:
        try:
            if not failures:
                _write(output, item)
        except BaseException as error:
            failures.append(error)
        finally:
            slots.release()


def _write(output: ChunkedOutput | None, item) -> None:
    results = [item]
    dist = sys.modules.get("torch.distributed")  # only under torchrun, where torch is loaded
    if dist is not None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
        dist.gather_object(item, gathered, dst=0)
        results = [r for r in (gathered or []) if r[0] is not None]
    if output is None:
        return
    for block, probability, mask in results:
        output.write(block.z, slice(block.y0, block.y1), slice(block.x0, block.x1), probability, mask)


def segment_large(
    bundle: str | os.PathLike,
    input: str | os.PathLike,
    output: str | os.PathLike,
    block_size: int = 2048,
    save_probabilities: bool = True,
    device: str | None = None,
    trust_bundle: bool = False,
    runtime: str = "torch",
    providers: Sequence[str] | None = None,
    **overrides,
) -> dict:
    """Segment ``input`` into the chunked ``output`` (``.h5`` or ``.zarr``) with the bundle, out of core (see the
    module docstring). Under ``torchrun`` the blocks are shared among the processes and rank 0 writes.
    ``runtime="onnx"`` runs the bundle's ``model.onnx`` on ONNX Runtime (``providers``) without importing PyTorch or
    MONAI (one process; about 0.8 GB less resident memory than PyTorch's CUDA build and MONAI).

    Args:
        bundle: bundle name or folder.
        input: TIFF, HDF5 (``file.h5:/dataset``), Zarr or folder of slices; greyscale ``(H, W)`` or ``(Z, H, W)``.
        output: ``.h5`` file or ``.zarr`` folder: ``mask`` (uint8 0/1) and, with ``save_probabilities``,
            ``probability`` (float32), chunked ``(1, block_size, block_size)``.
        block_size: side of the blocks predicted at once (memory grows with its square; a multiple of the tile step
            wastes least).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: the bundle's (one GPU per process under torchrun).
        overrides: config overrides of the bundle (``variant``, ``target``, ``tta``, ``threshold``...).

    Returns:
        ``{"output", "shape", "blocks", "seconds", "rank", "world_size"}``.
    """
    from microseg.bundle import check_trusted

    root = check_trusted(bundle, trust_bundle)
    if runtime == "onnx":
        rank, world = 0, 1
        settings, predict = _onnx_parts(root, providers, trust_bundle, overrides)
    elif runtime == "torch":
        rank, world = _distributed()
        settings, predict = _torch_parts(root, rank, device, overrides)
    else:
        raise MicrosegInputError(f"--runtime {runtime!r}: use torch (the default) or onnx.")
    stack = open_lazy(input)
    height, width = stack.shape[1:]
    if height < settings.roi[0] or width < settings.roi[1]:
        stack.close()
        raise MicrosegInputError(
            f"{input}: planes of {height}x{width} are smaller than one tile {settings.roi}; such images fit in memory: "
            "use `microseg segment`."
        )
    planner = _Planner(height, width, settings)
    reader = _BlockReader(stack, settings, planner)
    blocks = blocks_of(stack.shape, block_size)
    rounds = math.ceil(len(blocks) / world)
    mine = [blocks[i] for i in range(rank, rounds * world, world) if i < len(blocks)]
    attrs = {"bundle": root.name, "input": os.fspath(input), "threshold": settings.threshold, **_plain(overrides)}
    sink = ChunkedOutput(output, stack.shape, block_size, save_probabilities, attrs) if rank == 0 else None
    started = time.perf_counter()
    # Memory is bounded by slots, not by queue lengths: at most two input windows (one predicted, one read ahead) and
    # two results (one being computed, one written) exist at any time.
    inputs, results = queue.Queue(), queue.Queue()
    window_slots, result_slots = threading.Semaphore(2), threading.Semaphore(2)
    stop, failures = threading.Event(), []
    loader = threading.Thread(target=_produce, args=(mine, reader, inputs, window_slots, stop), daemon=True)
    writer = threading.Thread(target=_consume, args=(sink, results, result_slots, failures), daemon=True)
    loader.start()
    writer.start()
    bar = progress(total=len(mine), desc=Path(os.fspath(input)).name, unit="block")
    try:
        done = 0
        while (item := inputs.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            result_slots.acquire()
            results.put(_predict_block(item, planner, settings, predict))
            del item
            window_slots.release()
            _release_freed_memory()
            done += 1
            bar.update()
            if failures:
                raise failures[0]
        for _ in range(rounds - done if world > 1 else 0):  # a rank with a block fewer still joins every gather
            result_slots.acquire()
            results.put(_NOTHING)
    finally:
        bar.close()
        stop.set()
        window_slots.release()  # a reader waiting for a slot sees the stop
        results.put(None)
        writer.join()
        stack.close()
        if sink is not None:
            sink.close()
    if failures:
        raise failures[0]
    seconds = time.perf_counter() - started
    logger.info("%s: %d blocks of %s in %.1f s (rank %d of %d)", output, len(mine), stack.shape, seconds, rank, world)
    return {
        "output": os.fspath(output),
        "shape": list(stack.shape),
        "blocks": len(mine),
        "seconds": seconds,
        "rank": rank,
        "world_size": world,
    }


def _plain(overrides: dict) -> dict:
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in overrides.items()}
