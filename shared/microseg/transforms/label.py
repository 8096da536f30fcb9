"""Label conversions: binary masks to {0, 1}, annotations to instances, instances to background/interior/border."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_tensor

from microseg.cli import as_bool
from microseg.errors import MicrosegInputError
from microseg.transforms.checks import source_name

__all__ = [
    "BinarizeLabel",
    "BinarizeLabeld",
    "InstancesToClasses",
    "InstancesToClassesd",
    "LabelInstances",
    "LabelInstancesd",
]


class BinarizeLabel(Transform):
    """Map a binary mask stored as {0, 1} or {0, 255} to float32 {0, 1} (any value above zero becomes 1).

    Args:
        invert: the object is the zero value (ISBI 2012 stores membranes as 0 and cell interiors as 255). The texts
            true/false (as ``python -m monai.bundle run ... --invert_label true`` passes them) are read as bools.

    Shapes: any shape in, same shape out.

    Raises:
        MicrosegInputError: ``invert`` is neither a bool nor one of the texts true/false/yes/no/1/0.
    """

    def __init__(self, invert: bool | str = False) -> None:
        self.invert = as_bool(invert, "invert_label")

    def __call__(self, label):
        tensor = convert_to_tensor(label, track_meta=True)
        return ((tensor == 0) if self.invert else (tensor > 0)).to(torch.float32)


class BinarizeLabeld(MapTransform):
    """Dictionary version of :class:`BinarizeLabel`."""

    def __init__(self, keys: KeysCollection, invert: bool | str = False, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.binarize = BinarizeLabel(invert)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.binarize(d[key])
        return d


class LabelInstances(Transform):
    """Instance labels from an annotation: a binary mask (one non-zero value) is split into connected components;
    an image that already holds several object labels (e.g. GlaS ``*_anno.bmp``) keeps its objects, renumbered
    ``1..N`` in the order of their labels (gaps are common: every GlaS annotation has them, so they are not an error).

    Raises:
        MicrosegInputError: negative or fractional label values (not an instance label image).

    Args:
        connectivity: 1 = edge neighbours only (4-connected in 2D), 2 = edges and corners.

    Shapes: ``(1, H, W)`` in, int32 ``(1, H, W)`` out (0 = background).
    """

    def __init__(self, connectivity: int = 1) -> None:
        self.connectivity = connectivity

    def __call__(self, label):
        tensor = convert_to_tensor(label, track_meta=True)
        values = torch.unique(tensor)
        _check_instance_values(label, values)
        if len(values[values != 0]) > 1:
            dense = torch.searchsorted(values.to(torch.float64), tensor.to(torch.float64).contiguous())
            if values[0] != 0:  # no background: 0 is not among the values, so the first object would get 0
                dense = dense + 1
            return convert_to_dst_type(dense, tensor, dtype=torch.int32)[0]
        from microseg.metrics.objects import label_objects

        labels = np.stack([label_objects(c, self.connectivity) for c in tensor.detach().cpu().numpy()])
        return convert_to_dst_type(labels, tensor, dtype=torch.int32)[0]


def _check_instance_values(label, values: torch.Tensor) -> None:
    if values.numel() and values.min() < 0:
        raise MicrosegInputError(
            f"{source_name(label, 'label')}: instance labels must be 0 (background) or positive object numbers, but "
            f"the label holds negative values (down to {values.min().item()}); save it as unsigned integers "
            "(e.g. with skimage.segmentation.relabel_sequential)."
        )
    if values.is_floating_point() and not torch.equal(values, values.round()):
        raise MicrosegInputError(
            f"{source_name(label, 'label')}: instance labels must be whole numbers, but the label holds fractional "
            "values (was it resized with interpolation?); give the original integer label image."
        )


class LabelInstancesd(MapTransform):
    """Dictionary version of :class:`LabelInstances`."""

    def __init__(self, keys: KeysCollection, connectivity: int = 1, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.instances = LabelInstances(connectivity)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.instances(d[key])
        return d


def _window_extrema(planes: torch.Tensor, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum and maximum over the ``(2 w + 1)`` square around each pixel of ``(N, H, W)`` planes, edges repeated
    (SciPy's ``minimum_filter``/``maximum_filter`` with ``mode="nearest"``); separable, exact for any integer."""
    _, h, width = planes.shape
    rows = torch.arange(-w, h + w, device=planes.device).clamp(0, h - 1)
    cols = torch.arange(-w, width + w, device=planes.device).clamp(0, width - 1)
    padded = planes[:, rows][:, :, cols]
    extrema = []
    for op in (torch.minimum, torch.maximum):
        along_h = padded[:, 0:h]
        for k in range(1, 2 * w + 1):
            along_h = op(along_h, padded[:, k : k + h])
        out = along_h[:, :, 0:width]
        for k in range(1, 2 * w + 1):
            out = op(out, along_h[:, :, k : k + width])
        extrema.append(out)
    return extrema[0], extrema[1]


class InstancesToClasses(Transform):
    """Three-class target from instance labels: 0 = background, 1 = object interior, 2 = object border.

    A pixel of object ``k`` is interior when every pixel of the ``(2 w + 1)`` square around it (``w`` =
    ``border_width``, image edges repeated) also belongs to ``k``, otherwise border; so where two objects touch, each
    keeps a border of ``w`` pixels and their interiors are ``2 w`` apart. An object too small to keep any interior
    pixel is all interior, so that every object has a seed for :class:`~microseg.transforms.ClassWatershed`.

    Computed with PyTorch on the label's device, each ``(H, W)`` plane on its own (instance numbers of different
    planes are unrelated), so it also runs on a whole batch on the training device
    (:class:`~microseg.engines.AugmentOnDevice`).

    Args:
        border_width: border thickness in pixels (at least 1).

    Shapes: integer ``(*, H, W)`` instance labels in (0 = background; e.g. ``(1, H, W)`` or a batch
    ``(B, 1, H, W)``), int64 classes of the same shape out.
    """

    def __init__(self, border_width: int = 2) -> None:
        if border_width < 1:
            raise ValueError(f"border_width must be at least 1, got {border_width}")
        self.border_width = int(border_width)

    def _classes(self, labels: torch.Tensor) -> torch.Tensor:
        """``(N, H, W)`` int64 instance planes to classes."""
        low, high = _window_extrema(labels, self.border_width)
        foreground = labels > 0
        interior = foreground & (low == labels) & (high == labels)
        # objects without an interior pixel become all interior; ids made unique across planes by an offset
        offset = (labels.amax() + 1) * torch.arange(len(labels), device=labels.device).view(-1, 1, 1)
        unique = labels + offset
        kept = torch.bincount(unique[interior], minlength=int(unique.amax()) + 1)
        interior |= foreground & (kept[unique] == 0)
        return torch.where(interior, 1, torch.where(foreground, 2, 0))

    def __call__(self, label):
        tensor = convert_to_tensor(label, track_meta=True)
        if tensor.ndim < 2:
            raise ValueError(f"instance labels need at least two (H, W) dimensions, got shape {tuple(tensor.shape)}")
        labels = convert_to_tensor(tensor, track_meta=False).detach().long()
        planes = labels.reshape(-1, *labels.shape[-2:])
        classes = self._classes(planes).reshape(labels.shape) if planes.numel() else labels
        return convert_to_dst_type(classes, tensor, dtype=torch.int64)[0]


class InstancesToClassesd(MapTransform):
    """Dictionary version of :class:`InstancesToClasses`."""

    def __init__(self, keys: KeysCollection, border_width: int = 2, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.classes = InstancesToClasses(border_width)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.classes(d[key])
        return d
