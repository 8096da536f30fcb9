"""Instance labels from predictions: a distance-transform watershed of a binary mask, or a seeded watershed of a
three-class (background, interior, border) probability map."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type

from microseg.ops.labels import class_watershed, fill_instance_holes, split_touching_objects

__all__ = [
    "ClassWatershed",
    "ClassWatershedd",
    "FillInstanceHoles",
    "FillInstanceHolesd",
    "ForegroundProbability",
    "ForegroundProbabilityd",
    "SplitTouchingObjects",
    "SplitTouchingObjectsd",
]


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

    def __call__(self, img):
        array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        labels = np.stack([split_touching_objects(c > 0, self.min_depth, self.sigma, self.connectivity) for c in array])
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


class ClassWatershed(Transform):
    """Instances from a three-class probability map ``(background, interior, border)``, as the DSB 2018 recipe's
    three-class output proposes.

    1. Objects are where the background probability is below ``1 - mask_threshold``.
    2. Seeds are the connected components of ``interior > seed_threshold`` inside the objects; seeds smaller than
       ``min_seed_size`` pixels are dropped (they would split a nucleus on noise).
    3. A watershed of ``1 - interior`` from the seeds, restricted to the objects, assigns every object pixel to a
       seed; a connected object region without any seed becomes an instance of its own.

    Args:
        mask_threshold: foreground (interior + border) probability above which a pixel belongs to an object.
        seed_threshold: interior probability above which a pixel is a seed.
        min_seed_size: smallest seed, in pixels.
        connectivity: 1 = 4-connected, 2 = 8-connected components and watershed.

    Shapes: float ``(3, H, W)`` probabilities in (channels background, interior, border; e.g. a softmax), int32
    ``(1, H, W)`` instance labels out (0 = background, 1..N).
    """

    def __init__(
        self,
        mask_threshold: float = 0.5,
        seed_threshold: float = 0.5,
        min_seed_size: int = 4,
        connectivity: int = 1,
    ) -> None:
        self.mask_threshold, self.seed_threshold = float(mask_threshold), float(seed_threshold)
        self.min_seed_size, self.connectivity = int(min_seed_size), int(connectivity)

    def __call__(self, img):
        array = img.detach().cpu().float().numpy() if isinstance(img, torch.Tensor) else np.asarray(img, np.float32)
        labels = class_watershed(array, self.mask_threshold, self.seed_threshold, self.min_seed_size, self.connectivity)
        return convert_to_dst_type(
            labels[None].astype(np.int32), img, dtype=torch.int32 if isinstance(img, torch.Tensor) else np.int32
        )[0]


class ClassWatershedd(MapTransform):
    """Dictionary version of :class:`ClassWatershed`."""

    def __init__(
        self,
        keys: KeysCollection,
        mask_threshold: float = 0.5,
        seed_threshold: float = 0.5,
        min_seed_size: int = 4,
        connectivity: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.watershed = ClassWatershed(mask_threshold, seed_threshold, min_seed_size, connectivity)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.watershed(d[key])
        return d


class FillInstanceHoles(Transform):
    """Fill the holes of every object of an instance label image: a background region that touches no image edge
    and is enclosed by one single object takes that object's label (a gap enclosed by several objects stays).

    The result equals MONAI's ``FillHoles`` on label images, which fills label by label (one full-image pass per
    object: seconds for a few hundred nuclei); this does one pass for all objects.

    Args:
        connectivity: 1 = holes are 4-connected background regions, 2 = 8-connected.

    Shapes: int ``(1, H, W)`` instance labels in and out (same dtype).
    """

    def __init__(self, connectivity: int = 1) -> None:
        self.connectivity = int(connectivity)

    def __call__(self, img):
        array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        filled = np.stack([fill_instance_holes(channel, self.connectivity) for channel in array])
        return convert_to_dst_type(filled, img, dtype=img.dtype)[0]


class FillInstanceHolesd(MapTransform):
    """Dictionary version of :class:`FillInstanceHoles`."""

    def __init__(self, keys: KeysCollection, connectivity: int = 1, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.fill = FillInstanceHoles(connectivity)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.fill(d[key])
        return d


class ForegroundProbability(Transform):
    """The foreground probability of a class probability map whose channel 0 is the background: ``1 - p[0]`` (for the
    three-class head, interior + border), so that a three-class model can join an ensemble of foreground maps.

    Shapes: ``(C, *spatial)`` probabilities in (e.g. a softmax), ``(1, *spatial)`` out.
    """

    def __call__(self, img):
        if img.shape[0] < 2:
            raise ValueError(f"expected class probabilities with the background in channel 0, got shape {img.shape}")
        return 1 - img[:1]


class ForegroundProbabilityd(MapTransform):
    """Dictionary version of :class:`ForegroundProbability`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = ForegroundProbability()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key])
        return d
