"""Several prompts about the same image(s): shared-prefix prefill, batched decoding, class masks.

:class:`MultiPromptMixin` gives :class:`~univlm.inference.predictor.Predictor` its
``predict_many`` and ``segment_classes`` methods.

Design choices:
- The chat template puts the ``<image>`` placeholders first in the user turn, so every prompt about
  the same image(s) shares the tokens up to and including the last image token. That prefix (vision
  tower + LLM) runs once per expert: the expert FFN processes the image tokens too, so only prompts
  routed to the same expert can share it.
- The prompts of one expert then decode as ONE batch (:func:`constrained_decode_batch`), one forward
  pass per step for all rows, each with its own grammar state and jump-forward; in memory-bound
  decode K masks cost about as many passes as the longest one. ``batch_decode=False`` decodes them
  one by one from copies of the prefix cache (the same answers).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from univlm.codecs.masks import BACKGROUND, upsample_grid
from univlm.data.templates import SEG_TEMPLATES
from univlm.inference.decoding import DecodeOutput, constrained_decode, constrained_decode_batch
from univlm.inference.result import ClassMaskResult, Result
from univlm.models.compat import output_cache

if TYPE_CHECKING:
    from univlm.inference.predictor import _Prepared

__all__ = ["MultiPromptMixin"]


def _shared_prefix_stats(
    encoded: Mapping[str, Any], item: Any, out: DecodeOutput, prefix_len: int, shared: int, prefix_seconds: float
) -> dict[str, Any]:
    """The ``Result.stats`` of one prompt that continued a shared, cached prefix."""
    return {
        "prompt_tokens": int(encoded["input_ids"].shape[1]),
        "prefix_tokens": prefix_len,
        "shared_prefix_with": shared,
        "prefix_seconds": round(prefix_seconds, 4),
        "new_tokens": len(out.token_ids),
        "forward_passes": out.forward_passes,
        "forced_tokens": out.forced,
        "complete": out.complete if item.grammar is not None else out.stopped_by_eos,
    }


class MultiPromptMixin:
    """``predict_many`` and ``segment_classes``; mixed into :class:`~univlm.inference.predictor.Predictor`."""

    def predict_many(
        self,
        images: Any,
        prompts: Sequence[str],
        *,
        labels: Sequence[Sequence[str] | None] | None = None,
        constrained: bool | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        top_k: int = 0,
        seed: int | None = None,
        batch_decode: bool = True,
    ) -> list[Result]:
        """Answer several prompts about the SAME image(s), encoding the image prefix once per expert.

        Prompts routed to the same expert share the KV cache of everything up to and including the
        image tokens. With ``batch_decode`` (the default) they then decode together, one forward pass
        per step for all of them (:func:`~univlm.inference.decoding.constrained_decode_batch`);
        otherwise each continues from its own copy of the cache, one after another. Outputs equal
        separate :meth:`predict` calls either way.

        Args:
            images: The image(s) every prompt is about.
            prompts: User prompts.
            labels: Optional per-prompt mask labels (see :meth:`predict`).
            constrained, max_new_tokens, temperature, top_k, seed: As in :meth:`predict` (the seed
                of prompt k is ``seed + k``).
            batch_decode: Decode the prompts of one expert as one batch (default) rather than one by one.

        Returns:
            One :class:`Result` per prompt, in order.
        """
        import torch

        per_labels = list(labels) if labels is not None else [None] * len(prompts)
        if len(per_labels) != len(prompts):
            raise ValueError(f"got {len(per_labels)} label lists for {len(prompts)} prompts")
        prepared = [self._prepare(images, p, None, lab, constrained) for p, lab in zip(prompts, per_labels)]
        encoded = [self._inputs([it]) for it in prepared]
        image_id = self.processor.image_token_id
        groups: dict[tuple, list[int]] = {}
        for k, inputs in enumerate(encoded):
            ids = inputs["input_ids"][0].tolist()
            last = max((i for i, t in enumerate(ids) if t == image_id), default=-1)
            groups.setdefault((tuple(ids[: last + 1]), prepared[k].expert_id), []).append(k)
        results: list[Result | None] = [None] * len(prompts)
        for (prefix, _expert), members in groups.items():
            first = encoded[members[0]]
            expert_ids = first["expert_ids"]
            cache = None
            prefix_seconds = 0.0
            if prefix:
                start = time.perf_counter()
                image_kwargs = {
                    k: v for k, v in first.items() if k in ("pixel_values", "image_sizes", "batch_num_images")
                }
                with torch.no_grad():
                    prefill = self._forward(
                        input_ids=first["input_ids"][:, : len(prefix)],
                        use_cache=True,
                        logits_to_keep=1,
                        expert_ids=expert_ids,
                        **image_kwargs,
                    )
                cache = output_cache(prefill)
                prefix_seconds = time.perf_counter() - start
            if batch_decode and len(members) > 1:
                self._decode_group(
                    members, prepared, encoded, len(prefix), cache, prefix_seconds, results,
                    max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed,
                )
                continue
            for k in members:
                item = prepared[k]
                suffix = encoded[k]["input_ids"][:, len(prefix) :]
                start = time.perf_counter()
                out = constrained_decode(
                    self._forward,
                    suffix,
                    grammar=item.grammar,
                    max_new_tokens=self._budget(item, max_new_tokens),
                    eos_token_id=self.eos_token_ids,
                    past_key_values=copy.deepcopy(cache) if cache is not None else None,
                    step_kwargs={"expert_ids": expert_ids},
                    temperature=temperature,
                    top_k=top_k,
                    generator=self._generator(None if seed is None else seed + k),
                )
                stats = _shared_prefix_stats(encoded[k], item, out, len(prefix), len(members), prefix_seconds)
                stats["seconds"] = round(time.perf_counter() - start, 4)
                results[k] = self._result(item, out.token_ids, stats)
                if self._answer_has_mask_tokens(out.token_ids):
                    self._head_masks_from(results[k], encoded[k], out.token_ids)
        return [r for r in results if r is not None]

    def _decode_group(
        self,
        members: Sequence[int],
        prepared: Sequence[_Prepared],
        encoded: Sequence[Mapping[str, Any]],
        prefix_len: int,
        cache: Any,
        prefix_seconds: float,
        results: list[Result | None],
        *,
        max_new_tokens: int | None,
        temperature: float,
        top_k: int,
        seed: int | None,
    ) -> None:
        """Decode the prompts ``members`` (one expert, one cached prefix) as one batch into ``results``."""
        import torch

        start = time.perf_counter()
        items = [prepared[k] for k in members]
        outs = constrained_decode_batch(
            self._forward,
            [encoded[k]["input_ids"][0, prefix_len:].tolist() for k in members],
            grammars=[it.grammar for it in items],
            max_new_tokens=[self._budget(it, max_new_tokens) for it in items],
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.tokenizer.pad_token_id or 0,
            past_key_values=copy.deepcopy(cache) if cache is not None else None,
            past_length=prefix_len,
            expert_ids=torch.tensor([it.expert_id for it in items], device=self.model.device),
            temperature=temperature,
            top_k=top_k,
            generators=[self._generator(None if seed is None else seed + k) for k in members],
        )
        seconds = time.perf_counter() - start
        for k, item, out in zip(members, items, outs, strict=True):
            stats = _shared_prefix_stats(encoded[k], item, out, prefix_len, len(members), prefix_seconds)
            stats.update(batch_seconds=round(seconds, 4), decoded_as_batch_of=len(members))
            results[k] = self._result(item, out.token_ids, stats)
            if self._answer_has_mask_tokens(out.token_ids):
                self._head_masks_from(results[k], encoded[k], out.token_ids)

    def segment_classes(
        self,
        images: Any,
        classes: Sequence[str],
        *,
        template: str | None = None,
        **gen: Any,
    ) -> ClassMaskResult:
        """Semantic segmentation by one ``[SEG]`` prompt per class, merged into one label map.

        The prompts share the image prefix (:meth:`predict_many`). Where several classes claim a cell,
        the first class in ``classes`` keeps it; the number of such cells is reported.

        Args:
            images: The image(s).
            classes: Class names (without ``others``).
            template: Prompt with ``{cls}``; univlm's first ``[SEG]`` template when None.
            **gen: Generation options of :meth:`predict_many`.

        Returns:
            A :class:`ClassMaskResult` whose value k + 1 is ``classes[k]`` and 0 is ``others``.

        Raises:
            ValueError: If ``classes`` is empty or holds ``others``.
        """
        names = list(classes)
        if not names or BACKGROUND in names:
            raise ValueError(f"classes must be non-empty and must not contain {BACKGROUND!r}, got {names}")
        template = template or SEG_TEMPLATES[0]
        prompts = [template.format(cls=c) for c in names]
        results = self.predict_many(images, prompts, labels=[[BACKGROUND, c] for c in names], **gen)
        grid = np.zeros((self.grid, self.grid), dtype=np.int64)  # (G, G)
        claimed = np.zeros((self.grid, self.grid), dtype=np.int64)  # (G, G) claims per cell
        for k, result in enumerate(results):
            if not result.masks or result.masks[0].grid_size != self.grid:
                result.problems.append(
                    f"no {self.grid}x{self.grid} mask for class {names[k]!r}; it claims no cell"
                )
                continue
            cells = result.masks[0].binary()  # (G, G) bool
            grid[(grid == 0) & cells] = k + 1
            claimed += cells
        size = results[0].image_size if results else None
        label_map = upsample_grid(grid, size[1], size[0]) if size else grid.copy()
        return ClassMaskResult(
            labels=[BACKGROUND, *names],
            grid=grid,
            label_map=label_map,
            results=results,
            overlaps=int((claimed > 1).sum()),
        )
