"""``Predictor``: images + prompt in, structured :class:`~univlm.inference.result.Result` out.

Design choices and sources:
- Routing happens here, per sample, from the CURRENT user turn's task tag (``[VG]`` -> region expert,
  ...); a prompt without a tag goes to the router's default expert and the note is logged (the CLI
  prints it). The processor's own routing reads the whole rendered conversation, which in a chat
  would keep the first turn's tag forever, so its ``expert_ids`` are overridden.
- Single answers are decoded by :func:`~univlm.inference.decoding.constrained_decode`, a small
  greedy/sampling loop over the model's KV cache; ``[SEG]`` and ``[VG]`` answers are grammar
  constrained by default (masks: exactly G x G cells with labels from the prompt plus ``others``;
  boxes: ``[x1, y1, x2, y2]`` in 0..100), with jump-forward over forced tokens.
- Batches (:meth:`Predictor.predict_batch`) go through ``model.generate`` with left padding and a
  :class:`~univlm.inference.logits_processor.GrammarLogitsProcessor` (one grammar per row).
- Prefix KV-cache reuse (:meth:`Predictor.predict_many`): the chat template puts the ``<image>``
  placeholders first in the user turn, so every prompt about the same image(s) shares the tokens up
  to and including the last image token. That prefix (vision tower + LLM) runs once per expert (the
  expert FFN processes the image tokens too, so only prompts routed to the same expert can share it);
  each prompt then continues from a ``copy.deepcopy`` of the cache with its own text suffix.
- ``from_pretrained`` loads on CUDA + bfloat16 when available, else CPU + float32; a model passed to
  the constructor stays on its device and dtype unless told otherwise (training runs pass theirs).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from univlm.codecs.masks import BACKGROUND, DEFAULT_GRID
from univlm.data.templates import image_prefix
from univlm.imaging import load_image
from univlm.inference.acceleration import (
    CACHE_KINDS,
    QUANTIZE_KINDS,
    make_cache,
    quantize_weight_only,
    transpose_linear_weights,
)
from univlm.inference.decoding import constrained_decode
from univlm.inference.grammars import BoxGrammar, Grammar, GrammarError, MaskGrammar, MaskTokenGrammar
from univlm.inference.logits_processor import GrammarLogitsProcessor
from univlm.inference.multi_prompt import MultiPromptMixin
from univlm.inference.prompts import labels_from_prompt
from univlm.inference.result import Result, parse_answer
from univlm.models.router import route_from_config
from univlm.tasks import CONSTRAINED_TASKS, IMAGE_TOKEN

logger = logging.getLogger(__name__)

def _as_image_list(images: Any) -> list[Any]:
    if images is None:
        return []
    if isinstance(images, (list, tuple)):
        return list(images)
    return [images]


@dataclass
class _Prepared:
    """One sample ready for the model."""

    prompt: str
    chat: str
    images: list[Any]
    image_size: tuple[int, int] | None
    task: str | None
    expert_id: int
    expert: str
    labels: list[str] | None
    grammar: Grammar | None


class Predictor(MultiPromptMixin):
    """Run a univlm model on images and prompts and parse its answers.

    Args:
        model: A ``UniVLMForConditionalGeneration`` (or any LLaVA-style model taking ``expert_ids``).
        processor: The matching ``UniVLMProcessor``.
        device: Move the model there (``"cuda"``, ``"cpu"``, ...); None leaves it where it is.
        dtype: Cast the model to it; None keeps its dtype. (A model passed in, e.g. by a training
            run, is used as is unless asked; :meth:`from_pretrained` picks CUDA + bf16 or CPU + fp32.)
        constrained: Grammar-constrain ``[SEG]`` and ``[VG]`` answers by default.
        grid: Mask grid side G the model was trained with.
        max_new_tokens: Default budget for unconstrained answers (constrained answers default to
            their grammar's worst case, so they always complete).
        quantize: ``"none"``, ``"int8"`` or ``"int4"`` (CPU): weight-only language model with
            bfloat16 activations, 4x / 8x fewer bytes per decoded token than fp32
            (:mod:`univlm.inference.acceleration`).
        cache: ``"dynamic"`` (default) or ``"static"``: transformers' preallocated ``StaticCache``
            for :meth:`predict`.
        compile: ``torch.compile`` the forward used by the decode loops (slow first calls).
        transpose_weights: Store the language model's linear weights input-major (fp32 decode on a
            CPU reads them 1.2x to 1.4x faster; :func:`~univlm.inference.acceleration.transpose_linear_weights`).
            It changes the model in place, so it is off for a model passed in (a training run's);
            :meth:`from_pretrained` turns it on for CPU + fp32 without quantization.
        decode_attention: Switch an ``sdpa`` model to ``univlm_decode_sdpa``, which attends a decode
            token's grouped query heads as rows of their shared key/value head (about 1.6x faster
            attention on a CPU; :mod:`univlm.inference.decode_attention`). In place, so off for a
            model passed in; :meth:`from_pretrained` turns it on on the CPU.

    Raises:
        ValueError: If ``quantize`` or ``cache`` is not a known choice, or ``transpose_weights`` is
            combined with ``quantize``.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        device: str | None = None,
        dtype: Any = None,
        constrained: bool = True,
        grid: int = DEFAULT_GRID,
        max_new_tokens: int = 256,
        quantize: str = "none",
        cache: str = "dynamic",
        compile: bool = False,
        transpose_weights: bool = False,
        decode_attention: bool = False,
    ) -> None:
        import torch

        if quantize not in QUANTIZE_KINDS:
            raise ValueError(f"quantize must be one of {QUANTIZE_KINDS}, got {quantize!r}")
        if transpose_weights and quantize != "none":
            raise ValueError(f"transpose_weights is for unquantized weights; got quantize={quantize!r}")
        if cache not in CACHE_KINDS:
            raise ValueError(f"cache must be one of {CACHE_KINDS}, got {cache!r}")
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        if device is not None or dtype is not None:
            model = model.to(device=device, dtype=dtype)
        if quantize != "none":
            quantize_weight_only(model, quantize)
            dtype = torch.bfloat16
        if transpose_weights:
            transpose_linear_weights(model)
        if decode_attention:
            from univlm.inference.decode_attention import use_decode_attention  # imports transformers

            use_decode_attention(model)
        first = next(model.parameters())
        self.device = first.device
        self.dtype = dtype if dtype is not None else first.dtype  # pixel values are cast to it
        self.model = model.eval()
        self.quantize = quantize
        self.transpose_weights = transpose_weights
        self.cache = cache
        # The decode loops call this; generate() and attribute access keep using the plain model.
        self._forward = torch.compile(self.model, dynamic=True) if compile else self.model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.constrained = constrained
        self.grid = grid
        self.max_new_tokens = max_new_tokens
        self._grammars: dict[tuple, Grammar | None] = {}
        self.eos_token_id = int(self.tokenizer.eos_token_id)  # ends every answer (<|im_end|> for Qwen2)
        eos = {self.tokenizer.eos_token_id}
        configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos |= set(configured) if isinstance(configured, (list, tuple)) else {configured}
        self.eos_token_ids = sorted(int(e) for e in eos if e is not None)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, device: str | None = None, dtype: Any = None, **kwargs: Any
    ) -> Predictor:
        """Load model and processor from a saved univlm directory (no download, no remote code).

        Args:
            path: Directory written by ``save_pretrained`` (model and processor).
            device: See :class:`Predictor`.
            dtype: See :class:`Predictor`.
            **kwargs: Further :class:`Predictor` arguments (``constrained``, ``grid``, ...). Without
                ``transpose_weights``, it is on for an unquantized fp32 model on the CPU; without
                ``decode_attention``, it is on on the CPU.

        Returns:
            The predictor.

        Raises:
            FileNotFoundError: If ``path`` is not a directory.
        """
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        import univlm.models  # noqa: F401  (registers the univlm Auto* classes)

        if not os.path.isdir(path):
            raise FileNotFoundError(f"model directory not found: {os.fspath(path)}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype is None:
            dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        processor = AutoProcessor.from_pretrained(path)
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
        # This copy is the predictor's own, so its layout and attention may change for speed (class docs).
        on_cpu = torch.device(device).type == "cpu"
        kwargs.setdefault(
            "transpose_weights", on_cpu and dtype == torch.float32 and kwargs.get("quantize", "none") == "none"
        )
        kwargs.setdefault("decode_attention", on_cpu)
        return cls(model, processor, device=device, dtype=dtype, **kwargs)

    # ------------------------------------------------------------------ routing and grammars
    def route(self, prompt: str) -> tuple[str | None, int, str]:
        """Task, expert id and expert name for one user prompt, from the model config's routing table.

        The table, mode and default expert live in ``model.config`` alone, so editing ``config.json``
        changes inference. A prompt without a known tag goes to the default expert (logged).
        """
        decision = route_from_config(self.model.config, prompt)  # the router warns about a missing tag
        return decision.task, decision.expert_id, decision.expert

    def grammar_for(self, task: str | None, labels: Sequence[str] | None, num_images: int = 1) -> Grammar | None:
        """The grammar constraining answers of ``task`` (None for unconstrained tasks).

        A tokenizer that cannot express the grammar (see :class:`GrammarError`) yields None and a warning.
        A model with a ``[SEG]``-token mask head (``config.mask_head == "clm"``) answers one-image ``[SEG]``
        prompts with whole ``[SEG0]``.. groups (:class:`MaskTokenGrammar`), whatever the labels; a pair
        (change detection) keeps the text mask, as in its training data.
        """
        if task not in CONSTRAINED_TASKS:
            return None
        head = getattr(self.model.config, "mask_head_settings", None) if task == "SEG" and num_images == 1 else None
        key = (task, "mask_head") if head is not None else (task, tuple(labels or ()))
        if key not in self._grammars:
            try:
                if head is not None:
                    self._grammars[key] = MaskTokenGrammar(self.tokenizer, head.num_mask_tokens)
                elif task == "SEG":
                    self._grammars[key] = MaskGrammar(self.tokenizer, labels or [BACKGROUND], grid=self.grid)
                else:
                    self._grammars[key] = BoxGrammar(self.tokenizer)
            except (GrammarError, ValueError) as err:
                logger.warning("cannot constrain %s answers (%s); decoding without a grammar", task, err)
                self._grammars[key] = None
        return self._grammars[key]

    def _prepare(
        self,
        images: Any,
        prompt: str,
        history: Sequence[tuple[str, str]] | None,
        labels: Sequence[str] | None,
        constrained: bool | None,
    ) -> _Prepared:
        loaded = [load_image(im) for im in _as_image_list(images)]
        task, expert_id, expert = self.route(prompt)
        placeholders = "" if IMAGE_TOKEN in prompt else image_prefix(len(loaded))
        turns = list(history or [])
        messages: list[dict[str, str]] = []
        for i, (user, assistant) in enumerate(turns):
            messages.append({"role": "user", "content": (placeholders if i == 0 else "") + user})
            messages.append({"role": "assistant", "content": assistant})
        messages.append({"role": "user", "content": ("" if turns else placeholders) + prompt})
        chat = self.processor.build_prompt(messages, num_images=len(loaded))
        if task == "SEG":
            labels = (
                [BACKGROUND, *[x for x in labels if x != BACKGROUND]]
                if labels
                else labels_from_prompt(prompt)
            )
        use_grammar = self.constrained if constrained is None else constrained
        grammar = self.grammar_for(task, labels, num_images=len(loaded)) if use_grammar else None
        size = (loaded[0].width, loaded[0].height) if loaded else None
        return _Prepared(
            prompt, chat, loaded, size, task, expert_id, expert, list(labels) if labels else None, grammar
        )

    def _inputs(self, items: Sequence[_Prepared], padding_side: str = "left") -> dict[str, Any]:
        import torch

        groups = [it.images for it in items]
        batch = self.processor(
            text=[it.chat for it in items],
            images=groups if any(groups) else None,
            padding_side=padding_side,
            config=self.model.config,
        )
        inputs = {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        inputs["expert_ids"] = torch.tensor([it.expert_id for it in items], device=self.device)  # (B,)
        return inputs

    def _budget(self, item: _Prepared, max_new_tokens: int | None) -> int:
        if max_new_tokens is not None:
            return max_new_tokens
        return item.grammar.max_tokens if item.grammar is not None else self.max_new_tokens

    def _result(self, item: _Prepared, token_ids: Sequence[int], stats: dict[str, Any]) -> Result:
        text = self.tokenizer.decode(list(token_ids), skip_special_tokens=True)
        parsed = parse_answer(
            text, task=item.task, image_size=item.image_size, labels=item.labels, grid=self.grid
        )
        if item.grammar is not None and not stats.get("complete", True):
            parsed["problems"].append("the token budget ran out before the constrained answer was complete")
        return Result(
            text=text,
            prompt=item.prompt,
            task=item.task,
            expert=item.expert,
            expert_id=item.expert_id,
            image_size=item.image_size,
            labels=item.labels,
            constrained=item.grammar is not None,
            stats=stats,
            **parsed,
        )

    @staticmethod
    def _generator(seed: int | None):
        import torch

        return torch.Generator().manual_seed(seed) if seed is not None else None

    # ------------------------------------------------------------------ public API
    def predict(
        self,
        images: Any,
        prompt: str,
        *,
        history: Sequence[tuple[str, str]] | None = None,
        labels: Sequence[str] | None = None,
        constrained: bool | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        top_k: int = 0,
        seed: int | None = None,
    ) -> Result:
        """Answer one prompt about one or two images.

        Args:
            images: An image (PIL, path or uint8 array), a list of 1-2 images, or None.
            prompt: The user prompt, normally starting with a task tag (``"[VG] the largest building"``).
            history: Earlier ``(user, assistant)`` turns of a chat about the same images.
            labels: Mask labels for ``[SEG]`` (``others`` is added); read from the prompt when None.
            constrained: Override the predictor's default for grammar-constrained ``[SEG]``/``[VG]``.
            max_new_tokens: Token budget; None uses the grammar's worst case or the predictor's default.
            temperature: 0 decodes greedily; > 0 samples.
            top_k: With sampling, keep the k most likely tokens (0 = all).
            seed: Seed for sampling.

        Returns:
            The parsed :class:`Result`.

        Raises:
            FileNotFoundError: If an image path does not exist.
            ValueError: If images and placeholders disagree.
        """
        item = self._prepare(images, prompt, history, labels, constrained)
        inputs = self._inputs([item])
        input_ids = inputs.pop("input_ids")
        expert_ids = inputs.pop("expert_ids")
        inputs.pop("attention_mask", None)  # one unpadded sequence: the causal mask is all there is
        budget = self._budget(item, max_new_tokens)
        start = time.perf_counter()
        out = constrained_decode(
            self._forward,
            input_ids,
            grammar=item.grammar,
            max_new_tokens=budget,
            past_key_values=make_cache(self.model, self.cache, input_ids.shape[1] + budget + 1),
            eos_token_id=self.eos_token_ids,
            first_kwargs=inputs,
            step_kwargs={"expert_ids": expert_ids},
            temperature=temperature,
            top_k=top_k,
            generator=self._generator(seed),
        )
        stats = {
            "prompt_tokens": int(input_ids.shape[1]),
            "new_tokens": len(out.token_ids),
            "forward_passes": out.forward_passes,
            "forced_tokens": out.forced,
            "complete": out.complete if item.grammar is not None else out.stopped_by_eos,
            "seconds": round(time.perf_counter() - start, 4),
        }
        result = self._result(item, out.token_ids, stats)
        if getattr(self.model, "mask_head", None) is not None and "pixel_values" in inputs:
            self._add_head_masks(result, input_ids, out.token_ids, inputs["pixel_values"], expert_ids)
        return result

    def _add_head_masks(self, result: Result, prompt_ids, token_ids, pixel_values, expert_ids) -> None:
        """Fill ``result.head_masks`` from the ``[SEG]``-token mask head (models with ``mask_head="clm"``)."""
        import torch

        from univlm.models.mask_head import predict_head_masks  # only models with a head need it

        answer = torch.as_tensor([list(token_ids)], dtype=prompt_ids.dtype, device=prompt_ids.device)
        masks, classes, problems = predict_head_masks(
            self.model, torch.cat([prompt_ids, answer], dim=1), pixel_values, result.image_size, expert_ids
        )
        result.head_masks, result.head_mask_classes = [m.numpy() for m in masks], classes
        if masks:  # the answer holds mask tokens instead of a <seg> block
            result.problems = [p for p in result.problems if not p.startswith("expected a <seg>")]
        result.problems += problems

    def _answer_has_mask_tokens(self, token_ids: Sequence[int]) -> bool:
        """Whether a head model's answer holds ``[SEG0]``.. tokens (only then is a head forward worth it)."""
        head = getattr(self.model, "mask_head", None)
        return head is not None and not set(head.settings.token_ids).isdisjoint(token_ids)

    def _head_masks_from(self, result: Result, inputs: Mapping[str, Any], token_ids: Sequence[int]) -> None:
        """:meth:`_add_head_masks` from one item's own unpadded inputs, when it has images."""
        if "pixel_values" in inputs:
            self._add_head_masks(result, inputs["input_ids"], token_ids, inputs["pixel_values"], inputs["expert_ids"])

    def predict_batch(
        self,
        items: Iterable[tuple[Any, str]],
        *,
        batch_size: int = 8,
        constrained: bool | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        top_k: int = 0,
        seed: int | None = None,
        group_by_expert: bool = True,
    ) -> list[Result]:
        """Answer a batch of ``(images, prompt)`` pairs with ``model.generate`` (left padding).

        Constrained rows use :class:`~univlm.inference.logits_processor.GrammarLogitsProcessor`; rows may
        mix tasks and image counts. Items are grouped by expert before batching: a decode step whose
        rows route to different experts reads every expert's FFN weights, which in memory-bound
        decode costs up to one extra dense model's bytes per expert. Results come back in input order.

        Args:
            items: ``(images, prompt)`` pairs; ``images`` as in :meth:`predict`.
            batch_size: Samples per ``generate`` call.
            constrained, max_new_tokens, temperature, top_k, seed: As in :meth:`predict`.
            group_by_expert: Batch only items routed to the same expert (default); False keeps the
                input order in the batches (rows of one batch may then mix experts).

        Returns:
            One :class:`Result` per item, in order.
        """
        import torch
        from transformers import LogitsProcessorList

        prepared = [self._prepare(images, prompt, None, None, constrained) for images, prompt in items]
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        order = list(range(len(prepared)))
        if group_by_expert:
            order.sort(key=lambda k: prepared[k].expert_id)  # stable: input order within an expert
        batches: list[list[int]] = []
        for k in order:
            if batches and len(batches[-1]) < batch_size and (
                not group_by_expert or prepared[batches[-1][0]].expert_id == prepared[k].expert_id
            ):
                batches[-1].append(k)
            else:
                batches.append([k])
        results: list[Result | None] = [None] * len(prepared)
        for members in batches:
            chunk = [prepared[k] for k in members]
            inputs = self._inputs(chunk, padding_side="left")
            budgets = [self._budget(it, max_new_tokens) for it in chunk]
            grammars = [it.grammar for it in chunk]
            # Neutral values override a checkpoint's generation_config (Qwen2-Instruct ships sampling
            # and a repetition penalty), so batched answers match predict()'s plain decoding.
            gen: dict[str, Any] = {"do_sample": temperature > 0, "num_beams": 1, "repetition_penalty": 1.0}
            if temperature > 0:
                gen.update(temperature=temperature, top_k=top_k or None, top_p=1.0)
                if seed is not None:
                    torch.manual_seed(seed)
            processors = LogitsProcessorList()
            if any(g is not None for g in grammars) or len(set(budgets)) > 1:
                processors.append(GrammarLogitsProcessor(grammars, self.eos_token_id, max_new_tokens=budgets))
            start = time.perf_counter()
            with torch.no_grad():
                output = self.model.generate(
                    **inputs,
                    max_new_tokens=max(budgets),
                    logits_processor=processors,
                    eos_token_id=self.eos_token_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **gen,
                )
            seconds = time.perf_counter() - start
            prompt_len = inputs["input_ids"].shape[1]
            experts = sorted({item.expert_id for item in chunk})
            for row, (k, item, budget) in enumerate(zip(members, chunk, budgets, strict=True)):
                new = output[row, prompt_len:].tolist()[:budget]
                ended = next((i for i, t in enumerate(new) if t in self.eos_token_ids), None)
                tokens = new if ended is None else new[:ended]
                stats = {
                    "prompt_tokens": int(inputs["attention_mask"][row].sum()),
                    "new_tokens": len(tokens),
                    "complete": ended is not None,
                    "batch_seconds": round(seconds, 4),
                    "batch_size": len(chunk),
                    "batch_experts": experts,
                }
                results[k] = self._result(item, tokens, stats)
                if self._answer_has_mask_tokens(tokens):
                    # The batch row is left-padded; the head re-reads the item's own prompt unpadded.
                    self._head_masks_from(results[k], self._inputs([item]), tokens)
        return [r for r in results if r is not None]

    def predict_scene(
        self, path: str | os.PathLike, prompt: str, *, tile: int = 1024, overlap: int = 128, **options: Any
    ) -> Any:
        """Answer one prompt on every tile of a GeoTIFF and stitch the answers (needs ``univlm[geo]``).

        A thin wrapper of :func:`univlm.geo.run.predict_scene`, imported here so the core install
        never needs rasterio.

        Args:
            path: The GeoTIFF / COG.
            prompt: The prompt asked of every tile.
            tile: Tile side in pixels.
            overlap: Pixels shared by neighbouring tiles.
            **options: ``bands``, ``stretch``, ``nodata``, ``skip_nodata``, ``batch_size``,
                ``checkpoint``, ``resume``, ``progress``, ... and generation options.

        Returns:
            A :class:`univlm.geo.scene.SceneResult`.

        Raises:
            univlm.geo.GeoDependencyError: If the ``geo`` extra is not installed.
            univlm.geo.GeoInputError: For a raster or option that cannot be used.
        """
        from univlm.geo import require_geo

        require_geo()
        from univlm.geo.run import predict_scene

        return predict_scene(self, path, prompt, tile=tile, overlap=overlap, **options)

    def info(self) -> Mapping[str, Any]:
        """Device, dtype, defaults and expert names, for logs and ``--json`` output."""
        return {
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "constrained": self.constrained,
            "grid": self.grid,
            "quantize": self.quantize,
            "weights": "input-major" if self.transpose_weights else "as loaded",
            "attention": getattr(self.model.config, "_attn_implementation", None),
            "cache": self.cache,
            "experts": list(self.model.config.expert_names),
        }
