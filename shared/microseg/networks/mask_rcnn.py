"""Mask R-CNN with a ResNet50-FPN backbone for instance segmentation (torchvision's implementation)."""

from __future__ import annotations

from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

__all__ = ["PRETRAINED", "mask_rcnn_resnet50_fpn"]

PRETRAINED = ("none", "imagenet", "coco")


def mask_rcnn_resnet50_fpn(
    *,
    num_classes: int = 2,
    image_size: int = 512,
    pretrained: str | None = None,
    trainable_backbone_layers: int | None = None,
    box_detections_per_img: int = 100,
    box_score_thresh: float = 0.05,
) -> MaskRCNN:
    """Mask R-CNN, ResNet50-FPN (He et al., "Mask R-CNN", ICCV 2017), with the GlaS recipe's input scaling.

    The model resizes every image so that its longest side is ``image_size`` (``min_size = max_size =
    image_size``) and returns boxes and masks at the input's size.

    Contract (torchvision's): in training mode ``model(images, targets)`` takes a list of float images ``(3, H, W)``
    in [0, 1] and one target dict per image: ``boxes`` float ``(N, 4)`` as ``x1, y1, x2, y2`` pixels, ``labels`` int64
    ``(N,)`` (1 = gland; 0 is background), ``masks`` uint8 ``(N, H, W)``; it returns a dict of losses. In eval mode
    ``model(images)`` returns per image ``boxes`` ``(K, 4)``, ``labels`` ``(K,)``, ``scores`` ``(K,)`` sorted
    descending, and ``masks`` float ``(K, 1, H, W)`` probabilities.

    Args:
        num_classes: classes including background.
        image_size: the longest image side the network works at.
        pretrained: ``"none"`` or None (random initialisation), ``"imagenet"`` (backbone weights) or ``"coco"`` (the
            whole detector, heads replaced for ``num_classes``); both are downloaded by torchvision on first use.
        trainable_backbone_layers: backbone stages to train (0-5) when ``pretrained``; torchvision's default (3) when
            None. Without pretrained weights all 5 stages train.
        box_detections_per_img: detections kept per image.
        box_score_thresh: the model's own lower score bound; the recipe's 0.4 is applied later
            (:class:`microseg.transforms.FilterDetections`).
    """
    pretrained = "none" if pretrained is None else str(pretrained).lower()
    if pretrained not in PRETRAINED:
        raise ValueError(f"pretrained must be one of {PRETRAINED}, got {pretrained!r}")
    model = maskrcnn_resnet50_fpn(
        weights="DEFAULT" if pretrained == "coco" else None,
        weights_backbone="DEFAULT" if pretrained == "imagenet" else None,
        num_classes=91 if pretrained == "coco" else num_classes,
        trainable_backbone_layers=trainable_backbone_layers if pretrained != "none" else None,
        min_size=image_size,
        max_size=image_size,
        box_detections_per_img=box_detections_per_img,
        box_score_thresh=box_score_thresh,
    )
    if pretrained == "coco":
        box_features = model.roi_heads.box_predictor.cls_score.in_features
        model.roi_heads.box_predictor = FastRCNNPredictor(box_features, num_classes)
        mask_features = model.roi_heads.mask_predictor.conv5_mask.in_channels
        model.roi_heads.mask_predictor = MaskRCNNPredictor(mask_features, 256, num_classes)
    return model
