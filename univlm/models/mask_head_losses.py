"""Losses of the ``[SEG]``-token mask head, and the glue that runs the head on a model's outputs.

Design choices and their sources:

- Mask loss (LISA, PixelLM, GeoPix): ``bce_weight * BCE + dice_weight * Dice`` on the combined logits,
  plus PixelLM's target-refinement loss: a BCE whose pixel weight is ``refine_alpha`` where at least
  two predicted masks *of the same image* overlap (1 elsewhere), so the head learns to separate
  instances that it merges. The class-query classifier adds ``class_weight * CE`` on instances whose
  class is known. The text CE weight (``text_weight``) is applied by the trainer to TRL's loss.
- Every loss is a mean over instances (BCE and the refinement term over their pixels too), so it
  does not depend on how examples are batched: the packed and padded layouts give the same value.
- :func:`mask_head_loss` reads the backbone's outputs (``last_hidden_state`` and the
  ``vision_hidden_states`` that :class:`~univlm.models.modeling_univlm.UniVLMModel` keeps when a head
  is configured), so the trainer needs no extra forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from univlm.models.configuration_mask_head import MaskHeadSettings
from univlm.models.mask_head import MaskHeadOutput, find_mask_instances, first_image_of_examples


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Mean over instances of ``1 - (2 |p t| + s) / (|p| + |t| + s)``; ``logits``/``targets`` ``(K, R, R)``."""
    probs = logits.sigmoid().flatten(1)  # (K, R*R)
    targets = targets.flatten(1)  # (K, R*R)
    inter = (probs * targets).sum(-1)
    return (1 - (2 * inter + smooth) / (probs.sum(-1) + targets.sum(-1) + smooth)).mean()


def refinement_weights(logits: torch.Tensor, groups: torch.Tensor, alpha: float) -> torch.Tensor:
    """PixelLM's pixel weights: ``alpha`` where >= 2 predicted masks of one group overlap, else 1.

    Args:
        logits: ``(K, R, R)`` mask logits.
        groups: ``(K,)`` image (or example) of each instance; masks overlap only within a group.
        alpha: Weight of overlapping pixels.

    Returns:
        ``(K, R, R)`` weights (no gradient).
    """
    with torch.no_grad():
        predicted = (logits > 0).float()  # (K, R, R)
        _, inverse = torch.unique(groups, return_inverse=True)  # (K,)
        counts = torch.zeros((int(inverse.max()) + 1,) + predicted.shape[1:], device=logits.device)
        counts.index_add_(0, inverse, predicted)  # (groups, R, R): predicted masks per pixel
        overlap = counts.index_select(0, inverse) >= 2  # (K, R, R)
        return torch.where(overlap, torch.full_like(predicted, alpha), torch.ones_like(predicted))


@dataclass
class MaskLoss:
    """The weighted mask-head loss and its parts (detached, for logging)."""

    total: torch.Tensor
    parts: dict[str, float]
    num_instances: int


def head_losses(
    output: MaskHeadOutput,
    targets: torch.Tensor,
    groups: torch.Tensor,
    classes: torch.Tensor | None,
    settings: MaskHeadSettings,
) -> MaskLoss:
    """Weighted BCE + Dice + target refinement + class CE for ``K`` instances.

    Args:
        output: The head's output.
        targets: ``(K, R, R)`` 0/1 target masks on the padded square.
        groups: ``(K,)`` image of each instance (for the overlap weights).
        classes: ``(K,)`` true class per instance, -1 when unknown; None when none is known.
        settings: Loss weights.

    Raises:
        ValueError: If targets and logits disagree in shape.
    """
    logits = output.logits
    targets = targets.to(logits)
    if targets.shape != logits.shape:
        raise ValueError(f"mask targets of shape {tuple(targets.shape)}, expected {tuple(logits.shape)}")
    pixel_bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (K, R, R)
    bce = pixel_bce.mean()
    dice = dice_loss(logits, targets)
    refine = (refinement_weights(logits, groups.to(logits.device), settings.refine_alpha) * pixel_bce).mean()
    total = settings.bce_weight * bce + settings.dice_weight * dice + settings.refine_weight * refine
    parts = {"mask_bce": bce.item(), "mask_dice": dice.item(), "mask_refine": refine.item()}
    if classes is not None:
        classes = classes.to(logits.device).long()
        known = classes >= 0
        if known.any():
            cls = F.cross_entropy(output.class_logits[known], classes[known])
            total = total + settings.class_weight * cls
            parts["mask_class"] = cls.item()
    return MaskLoss(total, parts, int(logits.shape[0]))


def mask_head_loss(
    model,
    backbone_outputs,
    input_ids: torch.Tensor,
    mask_targets: torch.Tensor,
    mask_counts: Sequence[int] | torch.Tensor,
    mask_classes: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
) -> MaskLoss:
    """Run ``model.mask_head`` on one forward's backbone outputs and return its loss.

    Args:
        model: A :class:`~univlm.models.modeling_univlm.UniVLMForConditionalGeneration` with a head.
        backbone_outputs: ``model.model(...)``'s output for this batch (with ``vision_hidden_states``).
        input_ids: ``(B, T)`` the batch's tokens.
        mask_targets: ``(K, R, R)`` targets of every instance, example by example.
        mask_counts: ``(E,)`` instances per example.
        mask_classes: ``(K,)`` memory class per instance (-1 unknown), or None.
        position_ids: ``(B, T)`` for packed rows (a restart at 0 starts an example); None when padded.

    Returns:
        A :class:`MaskLoss` (zero with ``num_instances == 0`` when the batch has no instance).

    Raises:
        ValueError: If an example's mask-token groups and its targets disagree in number, or a group is
            incomplete.
    """
    head = model.mask_head
    settings = head.settings
    if not settings.token_ids:
        raise ValueError("mask_head_config.token_ids is empty; call univlm.models.mask_head.add_mask_head first")
    found = find_mask_instances(input_ids, settings.token_ids, position_ids)
    if found.incomplete:
        raise ValueError(f"{found.incomplete} mask tokens belong to no complete [SEG0]..[SEG{settings.num_mask_tokens - 1}] group")
    counts = torch.as_tensor(mask_counts, dtype=torch.long).reshape(-1)
    per_example = torch.bincount(found.examples, minlength=counts.numel())
    if per_example.numel() != counts.numel() or not torch.equal(per_example, counts):
        raise ValueError(
            f"mask-token groups per example {per_example.tolist()} do not match the targets per example {counts.tolist()}"
        )
    hidden = backbone_outputs.last_hidden_state  # (B, T, H)
    if found.rows.numel() == 0:
        zero = sum(p.sum() for p in head.parameters()) * 0.0  # keeps every head parameter in the graph (DDP)
        return MaskLoss(zero, {}, 0)
    vision = backbone_outputs.get("vision_hidden_states")
    if vision is None:
        raise ValueError("the forward kept no vision_hidden_states; was it run with pixel_values on a model with a head?")
    conditions = hidden[found.rows[:, None], found.positions]  # (K, L*N, H)
    first_image = first_image_of_examples(input_ids, model.config.image_token_id, vision[0].shape[0], position_ids)
    image_index = first_image[found.examples]  # (K,)
    output = head(conditions, vision, image_index, classes=mask_classes)
    return head_losses(output, mask_targets, image_index, mask_classes, settings)


__all__ = ["MaskLoss", "dice_loss", "head_losses", "mask_head_loss", "refinement_weights"]
