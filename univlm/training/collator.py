"""Batch collators for univlm training: padding-free (flattened) and padded.

Design choices and their sources:

- TRL's ``SFTTrainer`` refuses ``padding_free``/``packing`` for image datasets, so the flattening is done
  here, following transformers' ``DataCollatorWithFlattening``: the examples of a batch are concatenated
  into one ``(1, N)`` row, ``position_ids`` restart at 0 for every example, and the first label of each
  example is ``-100`` so no example is trained to predict the next example's first token.
- No ``attention_mask`` is returned in flattened mode. transformers' ``masking_utils`` then detects the
  packed layout from the position-id restarts (``find_packed_sequence_indices``) and builds a
  block-diagonal causal mask for sdpa/eager; flash-attention reads the ``cu_seq_lens_*``/``max_length_*``
  kwargs instead (returned when ``return_flash_attn_kwargs`` is set). That detection is skipped when a
  KV cache exists, so the trainer always forwards with ``use_cache=False``.
- Expert ids are per token in flattened mode (the G-MoE routes whole samples, and a flattened row holds
  several samples); per sample ``(B,)`` in padded mode.
- Images are concatenated in example order, which is the order of the ``<image>`` placeholders in the
  flattened row, so features still replace placeholders 1:1.
- ``task_index`` (per token, index into :data:`univlm.models.router.TASKS`, -1 when unknown) is metadata
  for per-task loss logging; the trainer removes it before the forward.
- Mask-head targets (``mask_targets`` ``(K, R, R)``, ``mask_classes`` ``(K,)``, ``mask_counts`` ``(E,)``),
  when examples carry them, are concatenated example by example, which is also the order of their
  ``[SEG0]``.. groups in a packed row; the trainer removes them before the forward and adds the mask loss.
- Optional ``loss_weight`` metadata (per token) re-balances long and short answers. Token averaging lets
  long answers dominate (one 250-token mask outweighs a hundred one-word class names); InternVL 2.5's
  "square averaging" weights each supervised token of a sample by ``1 / sqrt(n)`` (``n`` = the sample's
  supervised tokens), sample averaging by ``1 / n``. See :data:`LOSS_WEIGHTINGS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from univlm.tasks import TASKS

logger = logging.getLogger(__name__)

# Mask-head targets (univlm.models.mask_head): per instance, in example order, so they follow their example
# into a packed row; ``mask_counts`` says how many belong to each example.
MASK_KEYS = ("mask_targets", "mask_classes", "mask_counts")
METADATA_KEYS = ("task_index", "loss_weight", *MASK_KEYS)
IGNORE_INDEX = -100
# Exponent p of the per-token weight n ** -p, n = supervised tokens of the token's sample.
LOSS_WEIGHTINGS: dict[str, float] = {"token": 0.0, "square": 0.5, "sample": 1.0}


def _as_long(values: Any) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.reshape(-1).to(torch.long)
    return torch.as_tensor(values, dtype=torch.long).reshape(-1)


def _task_index(feature: Mapping[str, Any]) -> int:
    task = feature.get("task")
    if task is None and feature.get("task_tag"):
        task = str(feature["task_tag"]).strip("[]")
    return TASKS.index(task) if task in TASKS else -1


def _loss_weight(labels: torch.Tensor, exponent: float) -> torch.Tensor:
    """Per-token weights ``n ** -exponent`` on one example's supervised labels (0 elsewhere)."""
    supervised = labels != IGNORE_INDEX
    n = int(supervised.sum())
    return supervised.to(torch.float32) * (float(n) ** -exponent if n else 0.0)


class _BaseCollator:
    """Shared encoding step: raw records are encoded by ``encode_fn``, encoded ones pass through.

    Raises:
        ValueError: If ``loss_weighting`` is not a key of :data:`LOSS_WEIGHTINGS`.
    """

    def __init__(self, encode_fn: Callable[[Mapping[str, Any]], dict] | None = None, loss_weighting: str = "token"):
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss_weighting must be one of {sorted(LOSS_WEIGHTINGS)}, got {loss_weighting!r}")
        self.encode_fn = encode_fn
        # "token" is TRL's own loss: no weights are sent, so nothing in the trainer changes.
        self.weight_exponent = LOSS_WEIGHTINGS[loss_weighting] if loss_weighting != "token" else None

    def _encode(self, features: Sequence[Mapping[str, Any]]) -> list[dict]:
        encoded = []
        for feature in features:
            if "input_ids" in feature:
                encoded.append(dict(feature))
                continue
            if self.encode_fn is None:
                raise ValueError(
                    f"collator got a raw record (keys {sorted(feature)}) but has no encode_fn; expected "
                    "features with 'input_ids' and 'labels'"
                )
            out = dict(self.encode_fn(feature))
            out.setdefault("task", feature.get("task"))
            encoded.append(out)
        return encoded

    @staticmethod
    def _images(encoded: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        pixel_values = [f["pixel_values"] for f in encoded if f.get("pixel_values") is not None]
        if not pixel_values:
            return {}
        image_sizes = [
            torch.as_tensor(f["image_sizes"]) for f in encoded if f.get("pixel_values") is not None
        ]
        return {
            "pixel_values": torch.cat([torch.as_tensor(p) for p in pixel_values], dim=0),  # (num_images, ...)
            "image_sizes": torch.cat([s.reshape(-1, 2) for s in image_sizes], dim=0).to(
                torch.long
            ),  # (num_images, 2)
        }

    @staticmethod
    def _mask_targets(encoded: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Concatenate per-example mask-head targets ``(K_i, R, R)`` and classes ``(K_i,)``, example by example."""
        if not any(f.get("mask_targets") is not None for f in encoded):
            return {}
        targets, classes, counts = [], [], []
        for i, feature in enumerate(encoded):
            masks = feature.get("mask_targets")
            if masks is None:
                counts.append(0)
                continue
            masks = torch.as_tensor(masks, dtype=torch.float32)
            if masks.dim() != 3:
                raise ValueError(f"example {i}: mask_targets of shape {tuple(masks.shape)}, expected (K, R, R)")
            cls = feature.get("mask_classes")
            cls = torch.full((masks.shape[0],), -1, dtype=torch.long) if cls is None else _as_long(cls)
            if cls.numel() != masks.shape[0]:
                raise ValueError(f"example {i}: {masks.shape[0]} mask_targets but {cls.numel()} mask_classes")
            if targets and masks.shape[1:] != targets[0].shape[1:]:
                raise ValueError(
                    f"example {i}: mask_targets of side {tuple(masks.shape[1:])}, expected {tuple(targets[0].shape[1:])}"
                )
            targets.append(masks)
            classes.append(cls)
            counts.append(masks.shape[0])
        return {
            "mask_targets": torch.cat(targets),  # (K, R, R)
            "mask_classes": torch.cat(classes),  # (K,)
            "mask_counts": torch.tensor(counts, dtype=torch.long),  # (E,)
        }

    @staticmethod
    def _expert_id(feature: Mapping[str, Any]) -> int:
        value = feature.get("expert_id", feature.get("expert_ids", 0))
        if isinstance(value, torch.Tensor):
            value = value.reshape(-1)[0].item()
        elif isinstance(value, (list, tuple)):
            value = value[0]
        return int(value)


class PaddingFreeCollator(_BaseCollator):
    """Flatten a batch of encoded conversations into one ``(1, N)`` row without padding.

    Args:
        encode_fn: Turns a raw record (``messages``, ``images``, ...) into ``input_ids``/``labels``/
            ``pixel_values``/``image_sizes``/``expert_id``; None when features are already encoded.
        return_flash_attn_kwargs: Also return ``cu_seq_lens_q/k`` (int32) and ``max_length_q/k`` for
            flash-attention's varlen kernels.
        return_seq_idx: Also return ``seq_idx`` (int32, the example index of every token).
        loss_weighting: ``token`` (TRL's mean over tokens), ``square`` or ``sample`` (see the module doc).

    Returns (from ``__call__``):
        A dict with ``input_ids``, ``labels``, ``position_ids``, ``expert_ids`` (all ``(1, N)`` int64),
        ``pixel_values``/``image_sizes`` when the batch has images, ``task_index`` metadata (and
        ``loss_weight`` unless ``token``), and the optional flash-attention kwargs / ``seq_idx``.
    """

    def __init__(
        self,
        encode_fn: Callable[[Mapping[str, Any]], dict] | None = None,
        return_flash_attn_kwargs: bool = False,
        return_seq_idx: bool = False,
        loss_weighting: str = "token",
    ):
        super().__init__(encode_fn, loss_weighting)
        self.return_flash_attn_kwargs = return_flash_attn_kwargs
        self.return_seq_idx = return_seq_idx

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        encoded = self._encode(features)
        input_ids, labels, position_ids, expert_ids, task_index, seq_idx = [], [], [], [], [], []
        lengths = []
        for i, feature in enumerate(encoded):
            ids = _as_long(feature["input_ids"])
            lab = _as_long(feature["labels"]).clone()
            if ids.shape != lab.shape:
                raise ValueError(
                    f"example {i}: input_ids has {ids.numel()} tokens but labels has {lab.numel()}"
                )
            if ids.numel() == 0:
                raise ValueError(f"example {i} has no tokens")
            lab[0] = IGNORE_INDEX  # never predict this example's first token from the previous example
            n = ids.numel()
            lengths.append(n)
            input_ids.append(ids)
            labels.append(lab)
            position_ids.append(torch.arange(n, dtype=torch.long))
            expert_ids.append(torch.full((n,), self._expert_id(feature), dtype=torch.long))
            task_index.append(torch.full((n,), _task_index(feature), dtype=torch.long))
            seq_idx.append(torch.full((n,), i, dtype=torch.int32))
        batch: dict[str, Any] = {
            "input_ids": torch.cat(input_ids)[None],  # (1, N)
            "labels": torch.cat(labels)[None],  # (1, N)
            "position_ids": torch.cat(position_ids)[None],  # (1, N)
            "expert_ids": torch.cat(expert_ids)[None],  # (1, N)
            "task_index": torch.cat(task_index)[None],  # (1, N)
        }
        if self.weight_exponent is not None:
            weights = [_loss_weight(lab, self.weight_exponent) for lab in labels]
            batch["loss_weight"] = torch.cat(weights)[None]  # (1, N)
        batch.update(self._images(encoded))
        batch.update(self._mask_targets(encoded))
        if self.return_seq_idx:
            batch["seq_idx"] = torch.cat(seq_idx)[None]  # (1, N)
        if self.return_flash_attn_kwargs:
            cu = torch.zeros(len(lengths) + 1, dtype=torch.int32)
            cu[1:] = torch.cumsum(torch.tensor(lengths, dtype=torch.int32), 0)
            batch["cu_seq_lens_q"] = batch["cu_seq_lens_k"] = cu
            batch["max_length_q"] = batch["max_length_k"] = max(lengths)
        return batch


class PaddedCollator(_BaseCollator):
    """Right-pad a batch of encoded conversations to its longest example.

    Args:
        pad_token_id: Token id written into padding positions (masked out by ``attention_mask``).
        encode_fn: As for :class:`PaddingFreeCollator`.
        pad_to_multiple_of: Round the padded length up to a multiple of this.
        loss_weighting: As for :class:`PaddingFreeCollator`.

    Returns (from ``__call__``):
        ``input_ids``, ``attention_mask``, ``labels`` (``(B, T)``, -100 on padding), ``expert_ids`` ``(B,)``,
        ``pixel_values``/``image_sizes`` when present and ``task_index`` (and ``loss_weight``) metadata ``(B, T)``.
    """

    def __init__(
        self,
        pad_token_id: int,
        encode_fn: Callable[[Mapping[str, Any]], dict] | None = None,
        pad_to_multiple_of: int | None = None,
        loss_weighting: str = "token",
    ):
        super().__init__(encode_fn, loss_weighting)
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        encoded = self._encode(features)
        ids = [_as_long(f["input_ids"]) for f in encoded]
        length = max(x.numel() for x in ids)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        n = len(encoded)
        input_ids = torch.full((n, length), self.pad_token_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((n, length), dtype=torch.long)  # (B, T)
        labels = torch.full((n, length), IGNORE_INDEX, dtype=torch.long)  # (B, T)
        task_index = torch.full((n, length), -1, dtype=torch.long)  # (B, T)
        for i, (feature, x) in enumerate(zip(encoded, ids)):
            lab = _as_long(feature["labels"])
            if lab.shape != x.shape:
                raise ValueError(
                    f"example {i}: input_ids has {x.numel()} tokens but labels has {lab.numel()}"
                )
            input_ids[i, : x.numel()] = x
            attention_mask[i, : x.numel()] = 1
            labels[i, : x.numel()] = lab
            task_index[i, : x.numel()] = _task_index(feature)
        batch: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "expert_ids": torch.tensor([self._expert_id(f) for f in encoded], dtype=torch.long),  # (B,)
            "task_index": task_index,
        }
        if self.weight_exponent is not None:
            batch["loss_weight"] = torch.stack([_loss_weight(row, self.weight_exponent) for row in labels])  # (B, T)
        batch.update(self._images(encoded))
        batch.update(self._mask_targets(encoded))
        return batch
