"""Working-scale prediction, autocast, and the detector inferer."""

from __future__ import annotations

import pytest
import torch

from microseg.inferers import AutocastInferer, DetectionInferer, LongestSideInferer, SliceTiledInferer
from microseg.networks import mask_rcnn_resnet50_fpn


@pytest.mark.parametrize("shape", [(50, 90), (90, 50), (64, 64), (20, 33)])
def test_longest_side_returns_the_input_size(shape):
    identity = torch.nn.Identity()
    image = torch.zeros(1, 1, *shape)
    image[..., shape[0] // 4 : shape[0] // 2, shape[1] // 4 : shape[1] // 2] = 1.0
    out = LongestSideInferer(image_size=64)(image, identity)
    assert out.shape == image.shape
    assert torch.allclose(out, image, atol=0.5) and ((out > 0.5) == (image > 0.5)).float().mean() > 0.97


def test_longest_side_feeds_the_network_a_square():
    seen = []

    def network(x):
        seen.append(tuple(x.shape))
        return x[:, :1]

    LongestSideInferer(32, inferer=SliceTiledInferer(roi_size=(32, 32), tta="flips"))(torch.rand(2, 3, 40, 70), network)
    assert seen and all(s[-2:] == (32, 32) for s in seen)


def test_autocast_returns_float32_and_can_be_disabled():
    conv = torch.nn.Conv2d(3, 1, 3, padding=1)
    x = torch.rand(1, 3, 8, 8)
    out = AutocastInferer(lambda i, n: n(i), device_type="cpu")(x, conv)
    assert out.dtype == torch.float32 and torch.allclose(out, conv(x), atol=0.05)
    assert torch.equal(AutocastInferer(lambda i, n: n(i), enabled=False)(x, conv), conv(x))
    with pytest.raises(ValueError, match="dtype"):
        AutocastInferer(lambda i, n: n(i), dtype="int8")


def test_detection_inferer_pads_to_a_batch():
    def detector(images):
        out = []
        for k, img in enumerate(images):
            n = k + 1
            out.append(
                {
                    "boxes": torch.zeros(n, 4),
                    "scores": torch.full((n,), 0.9),
                    "labels": torch.ones(n, dtype=torch.int64),
                    "masks": torch.ones(n, 1, *img.shape[-2:]),
                }
            )
        return out

    out = DetectionInferer()(torch.zeros(2, 3, 5, 6), detector)
    assert out["masks"].shape == (2, 2, 1, 5, 6) and out["scores"][0].tolist() == [0.8999999761581421, -1.0]
    assert out["masks"][0, 1].sum() == 0


def test_detection_inferer_runs_mask_rcnn():
    model = mask_rcnn_resnet50_fpn(image_size=64, box_detections_per_img=5).eval()
    with torch.no_grad():
        out = DetectionInferer()(torch.rand(1, 3, 48, 64), model)
    assert out["masks"].shape[-2:] == (48, 64) and out["boxes"].shape[-1] == 4
