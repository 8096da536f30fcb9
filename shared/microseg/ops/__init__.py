"""NumPy operations on arrays: the one implementation behind the MONAI transforms and inferers of
:mod:`microseg.transforms` / :mod:`microseg.inferers`, and the whole of the PyTorch-free ONNX Runtime path
(:mod:`microseg.onnx_infer`). Importing this package, or any module in it, never imports torch or MONAI.

* :mod:`microseg.ops.image`: channel layout, input checks, intensity scaling, colour.
* :mod:`microseg.ops.labels`: thresholds, hole filling, small-object removal, instance watersheds.
* :mod:`microseg.ops.detection`: non-maximum suppression and merging detection masks into one label image.
* :mod:`microseg.ops.tiling`: tiled prediction with Gaussian blending, test-time augmentation, resizing.
"""

from __future__ import annotations
