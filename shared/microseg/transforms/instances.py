"""Binary foreground to instance labels: splitting touching objects by a distance-transform watershed."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type
from scipy import ndimage
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

__all__ = ["SplitTouchingObjects", "SplitTouchingObjectsd"]


class SplitTouchingObjects(Transform):
    """Label a binary mask into objects, separating objects joined by a narrow neck.

    The Euclidean distance to the background, smoothed by a Gaussian of ``sigma`` pixels, has one peak per
    object; peaks less than ``min_depth`` pixels above the saddle joining them are merged (h-maxima), so that only
    necks at least ``min_depth`` narrower than the objects split them. Each remaining peak seeds a watershed of the
    inverted distance inside the mask. ``min_depth=0`` gives plain connected components.

    Args:
        min_depth: h of the h-maxima transform, in pixels of distance.
        sigma: smoothing of the distance map, in pixels (0 for none).
        connectivity: neighbourhood of components and the watershed (1: 4-connected, 2: 8-connected).

    Shapes: ``(1, H, W)`` binary in (anything > 0 is foreground); int32 ``(1, H, W)`` labels 1..N out.
    """

    def __init__(self, min_depth: float = 3.0, sigma: float = 1.0, connectivity: int = 1) -> None:
        self.min_depth, self.sigma, self.connectivity = float(min_depth), float(sigma), int(connectivity)

    def _split(self, mask: np.ndarray) -> np.ndarray:
        structure = ndimage.generate_binary_structure(mask.ndim, self.connectivity)
        if self.min_depth <= 0 or not mask.any():
            return ndimage.label(mask, structure=structure)[0]
        distance = ndimage.distance_transform_edt(mask)
        if self.sigma > 0:
            distance = ndimage.gaussian_filter(distance, self.sigma)
        markers = ndimage.label(h_maxima(distance, self.min_depth) & mask, structure=structure)[0]
        return watershed(-distance, markers, mask=mask, connectivity=self.connectivity)

    def __call__(self, img):
        array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        labels = np.stack([self._split(channel > 0) for channel in array]).astype(np.int32)
        return convert_to_dst_type(labels, img, dtype=torch.int32 if isinstance(img, torch.Tensor) else np.int32)[0]


class SplitTouchingObjectsd(MapTransform):
    """Dictionary version of :class:`SplitTouchingObjects`."""

    def __init__(
        self,
        keys: KeysCollection,
        min_depth: float = 3.0,
        sigma: float = 1.0,
        connectivity: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.split = SplitTouchingObjects(min_depth, sigma, connectivity)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.split(d[key])
        return d
