"""Processor for UniVLM: images, ``<image>`` placeholder expansion, chat template and task router.

Design choices and their sources:

- Image mode ``"pad"`` (default; always used for samples with several images) is LLaVA's
  ``expand2square``: pad the image to a square with the image processor's mean colour
  (``int(m * 255)`` per channel, as LLaVA and transformers' ``LlavaOnevisionImageProcessor`` do),
  resize to the vision tower's ``image_size`` and normalise. ``pixel_values`` is
  ``(num_images, 1, 3, S, S)`` and ``image_sizes`` holds each original ``(H, W)``.
- One ``<image>`` placeholder expands to ``(S // patch)^2 + 1`` tokens (730 for SigLIP-so400m-384):
  transformers' ``LlavaOnevisionModel.pack_image_features`` appends one ``image_newline`` vector to a single-crop
  image's ``(S // patch)^2`` SigLIP features (SigLIP has no CLS token). The model scatters features
  into these positions 1:1, so hidden states stay aligned with ``input_ids``.
- Mode ``"anyres_max_N"`` reuses ``LlavaOnevisionImageProcessor`` unchanged and counts tokens with the
  formula of transformers' ``LlavaOnevisionProcessor`` (base crop + unpadded grid + one newline per
  row, downscaled when above N crops); multi-image samples are still padded (``+1`` newline only).
- Placeholders are expanded on token ids, not on text: ``<image>`` is one added token that never
  merges with its neighbours, so repeating its id equals tokenizing the repeated string, without
  tokenizing 730 copies of it per image.
- The router (:mod:`univlm.models.router`) reads the task tag of each prompt; its table, the expert
  names and the default expert are processor attributes, so they persist in ``processor_config.json``.
- Training labels come from the chat template's ``{% generation %}`` markers (the tokenizer's
  assistant-token mask): only assistant turns, including their ``<|im_end|>``, are supervised; image
  placeholder tokens never are. ``__call__`` can return character offsets of the unexpanded text, so
  ``ProcessorMixin.apply_chat_template(..., return_assistant_tokens_mask=True)`` (TRL's collator for
  vision-language models) yields the same mask.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from univlm.models.router import DEFAULT_EXPERT, DEFAULT_ROUTER_TABLE, EXPERT_NAMES, find_task_tag, route

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
IMAGE_TOKEN = "<image>"
_ANYRES_RE = re.compile(r"^anyres_max_(\d+)$")
# Options other processors take that have no meaning here (offsets already refer to the unexpanded text).
_SILENTLY_IGNORED = frozenset({"return_text_replacement_offsets", "return_mm_token_type_ids"})


def expand2square(image: Any, background_color: tuple[int, ...]) -> Any:
    """Pad a PIL image to a centred square (LLaVA's ``expand2square``).

    Args:
        image: An RGB ``PIL.Image``.
        background_color: Fill colour, one int 0..255 per channel.

    Returns:
        The image itself when already square, else a new square image.
    """
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), background_color)
    result.paste(image, ((side - width) // 2, (side - height) // 2))
    return result


def load_image(image: Any) -> Any:
    """Return ``image`` as an RGB ``PIL.Image``; accepts a PIL image, a path or an (H, W[, C]) uint8 array.

    Raises:
        FileNotFoundError: If a path does not exist.
        TypeError: For any other input type.
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        if not os.path.exists(image):
            raise FileNotFoundError(f"image file not found: {os.fspath(image)}")
        with Image.open(image) as opened:
            return opened.convert("RGB")
    if hasattr(image, "__array_interface__"):
        return Image.fromarray(image).convert("RGB")
    raise TypeError(f"expected a PIL image, a path or a uint8 array, got {type(image).__name__}")


def _is_image_like(obj: Any) -> bool:
    return not isinstance(obj, (list, tuple))


class UniVLMProcessor(ProcessorMixin):
    r"""Image processor + Qwen2 tokenizer + task router for UniVLM.

    Args:
        image_processor: A SigLIP-style image processor (``SiglipImageProcessor`` for ``"pad"``) or a
            ``LlavaOnevisionImageProcessor`` (needed for ``"anyres_max_N"``). Its ``size`` is the vision
            tower's ``image_size`` and its ``image_mean`` gives the padding colour.
        tokenizer: A Qwen2 tokenizer extended with ``tokenizer_ext.extend_tokenizer`` (it must know ``<image>``).
        chat_template: Jinja chat template; univlm's (``tokenizer_ext/chat_template.jinja``) when None.
        image_token: The placeholder string.
        image_mode: ``"pad"`` or ``"anyres_max_N"``.
        patch_size: The vision tower's patch size (14 for SigLIP-so400m).
        router_table: Task tag -> expert name; the default table when None.
        expert_names: Expert names in id order; ``("image", "region", "pixel")`` when None.
        default_expert: Expert for prompts without a task tag.

    Raises:
        ValueError: If the tokenizer lacks ``<image>``, the image mode is unknown or the router names
            unknown experts.
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        chat_template=None,
        image_token: str = IMAGE_TOKEN,
        image_mode: str = "pad",
        patch_size: int = 14,
        router_table: Mapping[str, str] | None = None,
        expert_names: Sequence[str] | None = None,
        default_expert: str = DEFAULT_EXPERT,
        **kwargs,
    ):
        if chat_template is None:
            from tokenizer_ext import load_chat_template

            chat_template = load_chat_template()
        self.image_token = image_token
        self.image_mode = image_mode
        self.patch_size = int(patch_size)
        self.router_table = dict(DEFAULT_ROUTER_TABLE if router_table is None else router_table)
        self.expert_names = list(EXPERT_NAMES if expert_names is None else expert_names)
        self.default_expert = default_expert
        if kwargs:
            logger.warning("UniVLMProcessor ignores unknown arguments %s", sorted(kwargs))
        super().__init__(image_processor, tokenizer, chat_template=chat_template)
        self._validate()

    # ------------------------------------------------------------------ configuration
    def _validate(self) -> None:
        if self.image_token not in self.tokenizer.get_vocab():
            raise ValueError(
                f"tokenizer has no {self.image_token!r} token; call tokenizer_ext.extend_tokenizer(tokenizer) first"
            )
        if self.image_mode != "pad" and not _ANYRES_RE.match(self.image_mode):
            raise ValueError(f"image_mode must be 'pad' or 'anyres_max_N', got {self.image_mode!r}")
        if self.image_mode != "pad" and not hasattr(self.image_processor, "image_grid_pinpoints"):
            raise ValueError(
                f"image_mode {self.image_mode!r} needs a LlavaOnevisionImageProcessor (with image_grid_pinpoints), "
                f"got {type(self.image_processor).__name__}"
            )
        names = set(self.expert_names)
        unknown = {t: e for t, e in self.router_table.items() if e not in names}
        if unknown or self.default_expert not in names:
            raise ValueError(
                f"router names unknown experts (table {unknown}, default {self.default_expert!r}); "
                f"expected one of {self.expert_names}"
            )

    @property
    def image_token_id(self) -> int:
        """Id of the ``<image>`` placeholder token."""
        return self.tokenizer.convert_tokens_to_ids(self.image_token)

    @property
    def image_size(self) -> int:
        """Side S of the square crop fed to the vision tower."""
        size = self.image_processor.size
        size = size if isinstance(size, Mapping) else vars(size)
        if size.get("height") is not None:
            return int(size["height"])
        return int(size["shortest_edge"])

    @property
    def num_image_tokens(self) -> int:
        """SigLIP features of one crop, ``(S // patch)^2`` (LLaVA-OneVision's ``num_image_tokens``).

        The patch convolution has no padding, so 384 / 14 gives 27 x 27 = 729 features.
        """
        return (self.image_size // self.patch_size) ** 2

    @property
    def tokens_per_image(self) -> int:
        """Placeholder tokens of one padded image: the crop's features plus one ``image_newline``."""
        return self.num_image_tokens + 1

    @property
    def model_input_names(self) -> list[str]:
        """Keys of :meth:`__call__`'s output that the model's ``forward`` accepts."""
        names = ["input_ids", "attention_mask", "pixel_values", "image_sizes", "expert_ids"]
        return names + (["batch_num_images"] if self.image_mode != "pad" else [])

    @classmethod
    def from_tokenizer(
        cls,
        tokenizer: Any,
        image_size: int = 384,
        patch_size: int = 14,
        image_mode: str = "pad",
        extend: bool = True,
        **kwargs: Any,
    ) -> UniVLMProcessor:
        """Build a processor around ``tokenizer`` with a SigLIP image processor (mean = std = 0.5).

        Args:
            tokenizer: A Qwen2 tokenizer. It is extended in place (``<image>``, mask tokens, chat
                template) when ``extend`` is True and it lacks ``<image>``.
            image_size: Vision input side S (384 for SigLIP-so400m; 64 for the tiny preset).
            patch_size: Vision patch size (14; 8 for the tiny preset -> 65 tokens per image).
            image_mode: ``"pad"`` (``SiglipImageProcessor``) or ``"anyres_max_N"``
                (``LlavaOnevisionImageProcessor`` with LLaVA-OneVision's pinpoints scaled to S).
            extend: Whether to call ``tokenizer_ext.extend_tokenizer`` on a tokenizer without ``<image>``.
            **kwargs: Further ``UniVLMProcessor`` arguments (``router_table``, ``expert_names``, ...).

        Returns:
            The processor.
        """
        from transformers.image_utils import PILImageResampling

        from tokenizer_ext import extend_tokenizer

        if extend and IMAGE_TOKEN not in tokenizer.get_vocab():
            extend_tokenizer(tokenizer)
        common = {
            "size": {"height": image_size, "width": image_size},
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
            "resample": PILImageResampling.BICUBIC,
        }
        if image_mode == "pad":
            from transformers import SiglipImageProcessorPil

            image_processor = SiglipImageProcessorPil(**common)
        else:
            from transformers import LlavaOnevisionImageProcessorPil

            # LLaVA-OneVision's 6x6 grid of resolutions, in units of the crop size.
            pinpoints = [[image_size * i, image_size * j] for i in range(1, 7) for j in range(1, 7)]
            image_processor = LlavaOnevisionImageProcessorPil(**common, image_grid_pinpoints=pinpoints)
        return cls(image_processor, tokenizer, image_mode=image_mode, patch_size=patch_size, **kwargs)

    @classmethod
    def from_config(cls, tokenizer: Any, config: Any, extend: bool = True) -> UniVLMProcessor:
        """Build a processor that matches a ``UniVLMConfig``: vision size, patch, image mode, routing.

        Args:
            tokenizer: A Qwen2 tokenizer (extended in place when ``extend`` and it lacks ``<image>``).
            config: A ``UniVLMConfig`` (or any ``LlavaOnevisionConfig``; missing router fields use defaults).
            extend: See :meth:`from_tokenizer`.

        Returns:
            The processor.
        """
        image_mode = getattr(config, "image_mode", "pad")
        processor = cls.from_tokenizer(
            tokenizer,
            image_size=config.vision_config.image_size,
            patch_size=config.vision_config.patch_size,
            image_mode=image_mode,
            extend=extend,
            router_table=getattr(config, "router_table", None),
            expert_names=getattr(config, "expert_names", None),
            default_expert=getattr(config, "default_expert", DEFAULT_EXPERT),
        )
        if image_mode != "pad" and getattr(config, "image_grid_pinpoints", None):
            processor.image_processor.image_grid_pinpoints = [list(p) for p in config.image_grid_pinpoints]
        return processor

    # ------------------------------------------------------------------ routing and prompts
    def route(self, text: str) -> int:
        """Expert id for one prompt, from its first known task tag (see :func:`univlm.models.router.route`)."""
        return route(text, self.router_table, self.expert_names, self.default_expert)

    def build_prompt(self, messages_or_text: str | Sequence[Mapping[str, Any]], num_images: int | None = None) -> str:
        """Render a prompt with the chat template and the assistant generation prompt.

        Args:
            messages_or_text: A list of chat messages, or one user prompt string. A string without
                ``<image>`` placeholders gets ``"<image>\\n"`` prepended once per image.
            num_images: Number of images that go with the prompt; when given it is checked against
                the rendered placeholders. None means 0 for a string and "unchecked" for messages.

        Returns:
            The text to pass to :meth:`__call__`.

        Raises:
            ValueError: If the placeholders and ``num_images`` disagree.
        """
        if isinstance(messages_or_text, str):
            text = messages_or_text
            count = 0 if num_images is None else num_images
            if self.image_token not in text:
                text = f"{self.image_token}\n" * count + text
            messages: Sequence[Mapping[str, Any]] = [{"role": "user", "content": text}]
            num_images = count
        else:
            messages = messages_or_text
        prompt = self.tokenizer.apply_chat_template(
            list(messages), chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        )
        if num_images is not None and prompt.count(self.image_token) != num_images:
            raise ValueError(
                f"prompt has {prompt.count(self.image_token)} {self.image_token} placeholders but "
                f"{num_images} images were given"
            )
        return prompt

    # ------------------------------------------------------------------ images
    def _group_images(self, images: Any, counts: list[int]) -> list[list[Any]]:
        """Split ``images`` (None, one image, a flat list or per-sample lists) to match ``counts``."""
        if images is None:
            groups: list[list[Any]] = [[] for _ in counts]
        elif _is_image_like(images):
            if len(counts) != 1:
                raise ValueError(f"got 1 image for a batch of {len(counts)} texts; pass one list of images per text")
            groups = [[images]]
        elif len(images) > 0 and all(isinstance(g, (list, tuple)) for g in images):
            groups = [list(g) for g in images]
            if len(groups) != len(counts):
                raise ValueError(f"got {len(groups)} per-sample image lists for {len(counts)} texts")
        else:
            flat = list(images)
            if len(flat) != sum(counts):
                raise ValueError(
                    f"the texts hold {sum(counts)} {self.image_token} placeholders in total "
                    f"(per sample: {counts}) but {len(flat)} images were given"
                )
            groups, start = [], 0
            for n in counts:
                groups.append(flat[start : start + n])
                start += n
        for i, (group, n) in enumerate(zip(groups, counts)):
            if len(group) != n:
                raise ValueError(
                    f"sample {i} has {n} {self.image_token} placeholders but {len(group)} images were given "
                    f"(placeholders per sample: {counts}; images per sample: {[len(g) for g in groups]})"
                )
        return groups

    def _anyres_num_tokens(self, height: int, width: int) -> int:
        """Placeholder count of one AnyRes image (formula of transformers' ``LlavaOnevisionProcessor``)."""
        from transformers.image_processing_utils import select_best_resolution

        side = self.image_size
        best_h, best_w = select_best_resolution([height, width], self.image_processor.image_grid_pinpoints)
        grid = self.image_size // self.patch_size
        cur_h, cur_w = grid * (best_h // side), grid * (best_w // side)
        # Undo the letterbox padding of the tiled canvas (transformers' unpad_image).
        if width / height > cur_w / cur_h:
            new_h = int(round(height * (cur_w / width), 7))
            cur_h -= ((cur_h - new_h) // 2) * 2
        else:
            new_w = int(round(width * (cur_h / height), 7))
            cur_w -= ((cur_w - new_w) // 2) * 2
        unpadded, newlines = cur_h * cur_w, cur_h
        max_crops = int(_ANYRES_RE.match(self.image_mode).group(1))
        ratio = math.sqrt(cur_h * cur_w / (max_crops * grid**2))
        if ratio > 1.1:
            unpadded = int(cur_h // ratio) * int(cur_w // ratio)
            newlines = int(cur_h // ratio)
        return self.num_image_tokens + unpadded + newlines

    def process_images(self, groups: Sequence[Sequence[Any]]) -> tuple[dict[str, Any], list[int]]:
        """Turn per-sample image lists into model inputs and per-image placeholder counts.

        Args:
            groups: One list of images (PIL, path or array) per sample.

        Returns:
            ``(inputs, tokens)``: ``inputs`` holds ``pixel_values`` (num_images, P, 3, S, S) with P = 1
            in pad mode, ``image_sizes`` (num_images, 2) original (H, W) and, in AnyRes mode,
            ``batch_num_images``; ``tokens`` is the placeholder count of each image, in order.
        """
        import torch

        groups = [[load_image(im) for im in group] for group in groups]
        flat = [im for group in groups for im in group]
        if not flat:
            return {}, []
        sizes = torch.tensor([[im.height, im.width] for im in flat], dtype=torch.long)  # (N, 2) as (H, W)
        if self.image_mode == "pad":
            background = tuple(int(m * 255) for m in self.image_processor.image_mean)
            squares = [expand2square(im, background) for im in flat]
            if hasattr(self.image_processor, "image_grid_pinpoints"):
                # LlavaOnevisionImageProcessor tiles a lone image; with one SxS pinpoint, crop 0 of a
                # square image is exactly the resized full view that "pad" mode wants.
                out = self.image_processor(squares, image_grid_pinpoints=[[self.image_size] * 2], return_tensors="pt")
                pixel_values = out["pixel_values"][:, :1]  # (N, 1, 3, S, S)
            else:
                pixel_values = self.image_processor(squares, return_tensors="pt")["pixel_values"][:, None]  # (N, 1, 3, S, S)
            return {"pixel_values": pixel_values, "image_sizes": sizes}, [self.tokens_per_image] * len(flat)
        out = self.image_processor([list(g) for g in groups if g], return_tensors="pt")
        tokens = []
        for group in groups:
            for im in group:
                # Multi-image samples are padded, not tiled (need_patching is n == 1 in transformers).
                tokens.append(self._anyres_num_tokens(im.height, im.width) if len(group) == 1 else self.tokens_per_image)
        inputs = {"pixel_values": out["pixel_values"], "image_sizes": sizes, "batch_num_images": out["batch_num_images"]}
        return inputs, tokens

    def _expand_ids(self, ids: Sequence[int], tokens: Sequence[int]) -> list[int]:
        """Replace the k-th ``<image>`` id by ``tokens[k]`` copies of it."""
        image_id = self.image_token_id
        out: list[int] = []
        k = 0
        for token in ids:
            if token == image_id:
                out.extend([image_id] * tokens[k])
                k += 1
            else:
                out.append(token)
        return out

    # ------------------------------------------------------------------ main entry points
    def __call__(
        self,
        text: str | Sequence[str] | None = None,
        images: Any = None,
        return_tensors: str | None = "pt",
        padding: bool | str = True,
        padding_side: str | None = None,
        truncation: bool = False,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        add_special_tokens: bool = False,
        return_offsets_mapping: bool = False,
        videos: Any = None,
        audio: Any = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Tokenize prompts, expand their ``<image>`` placeholders, process images and route.

        Args:
            text: One prompt or a batch of prompts, already formatted (see :meth:`build_prompt`).
            images: None, one image, a flat list (consumed in placeholder order across the batch) or one
                list per sample. Images are PIL images, paths or uint8 arrays.
            return_tensors: ``"pt"`` (default), ``"np"`` or None for lists.
            padding: Passed to ``tokenizer.pad`` (True pads to the longest prompt).
            padding_side: ``"left"`` for batched generation, ``"right"``, or None for the tokenizer's.
            truncation: Cut sequences to ``max_length`` tokens (after placeholder expansion).
            max_length: Length limit used with ``truncation``.
            pad_to_multiple_of: Passed to ``tokenizer.pad``.
            add_special_tokens: Passed to the tokenizer (Qwen2 adds none; chat prompts carry their own).
            return_offsets_mapping: Also return ``offset_mapping`` (B, T, 2) in characters of the
                *unexpanded* text; expanded image tokens get an empty span so no text span covers them.
                ``ProcessorMixin.apply_chat_template(..., return_assistant_tokens_mask=True)`` (TRL's
                assistant-only loss for vision-language models) relies on it.
            videos: Must be None (univlm has no video input).
            audio: Must be None.
            **kwargs: Other processor options (e.g. ``return_text_replacement_offsets``); ignored, since
                offsets already refer to the unexpanded text.

        Returns:
            A ``BatchFeature`` with ``input_ids`` (B, T), ``attention_mask`` (B, T), ``expert_ids`` (B,)
            and, when there are images, ``pixel_values`` (num_images, P, 3, S, S) and ``image_sizes``
            (num_images, 2) (plus ``batch_num_images`` in AnyRes mode).

        Raises:
            ValueError: If no text is given, images and placeholders disagree (per sample or in total),
                videos or audio are given, or truncation would cut into an image's tokens.
        """
        if text is None:
            raise ValueError("UniVLMProcessor needs text: one prompt or a list of prompts")
        if videos is not None or audio is not None:
            raise ValueError("UniVLMProcessor takes images only; got videos or audio")
        ignored = sorted(k for k in kwargs if k not in _SILENTLY_IGNORED)
        if ignored:
            logger.warning("UniVLMProcessor.__call__ ignores arguments %s", ignored)
        texts = [text] if isinstance(text, str) else list(text)
        counts = [t.count(self.image_token) for t in texts]
        groups = self._group_images(images, counts)
        image_inputs, tokens = self.process_images(groups)

        encoded = self.tokenizer(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        image_id = self.image_token_id
        input_ids, offsets, start = [], [], 0
        for i, (ids, spans, n) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"], counts)):
            sample_ids, sample_spans = [], []
            k = start
            for token, (lo, hi) in zip(ids, spans):
                if token == image_id:
                    sample_ids.extend([image_id] * tokens[k])
                    sample_spans.extend([(lo, lo)] * tokens[k])
                    k += 1
                else:
                    sample_ids.append(token)
                    sample_spans.append((lo, hi))
            if k - start != n:
                raise ValueError(f"sample {i}: {self.image_token} tokenized into {k - start} tokens for {n} placeholders")
            start = k
            if truncation and max_length is not None and len(sample_ids) > max_length:
                if image_id in sample_ids[max_length:]:
                    raise ValueError(
                        f"sample {i} has {len(sample_ids)} tokens; truncating to max_length={max_length} would cut "
                        f"image tokens (an image needs {self.tokens_per_image} in pad mode)"
                    )
                sample_ids, sample_spans = sample_ids[:max_length], sample_spans[:max_length]
            input_ids.append(sample_ids)
            offsets.append(sample_spans)
        batch = self.tokenizer.pad(
            {"input_ids": input_ids},
            padding=padding,
            padding_side=padding_side,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=True,
        )
        data = {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "expert_ids": [self.route(t) for t in texts],
            **image_inputs,
        }
        if return_offsets_mapping:
            data["offset_mapping"] = _pad_offsets(offsets, batch["attention_mask"])
        return BatchFeature(data=data, tensor_type=return_tensors)

    def encode_conversation(
        self,
        messages: Sequence[Mapping[str, Any]],
        images: Sequence[Any] | None = None,
        max_length: int | None = None,
    ) -> dict[str, Any]:
        """Encode one training conversation with assistant-only labels.

        Args:
            messages: Chat messages (``role`` / ``content``); content is a string with ``<image>``
                placeholders or TRL's list form. Multi-turn is supported.
            images: The conversation's images, in placeholder order (PIL, paths or arrays).
            max_length: When set, a longer encoding raises instead of being truncated (truncation would
                cut image tokens or the answer), so the caller can count and skip it.

        Returns:
            A dict with ``input_ids`` (T,), ``attention_mask`` (T,), ``labels`` (T,) = -100 except the
            assistant tokens and their ``<|im_end|>``, ``pixel_values`` (num_images, P, 3, S, S) or None,
            ``image_sizes`` (num_images, 2) or None, ``expert_id`` (int, routed from the first user turn)
            and ``task_tag`` (e.g. ``"[VG]"``, or None).

        Raises:
            ValueError: If there is no assistant turn, images and placeholders disagree, or the encoding
                exceeds ``max_length``.
        """
        import torch

        messages = list(messages)
        if not any(m.get("role") == "assistant" for m in messages):
            raise ValueError("conversation has no assistant turn, so it has nothing to learn from")
        images = list(images or [])
        encoded = self.tokenizer.apply_chat_template(
            messages,
            chat_template=self.chat_template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids, assistant = list(encoded["input_ids"]), list(encoded["assistant_masks"])
        image_id = self.image_token_id
        num_placeholders = sum(1 for t in ids if t == image_id)
        if num_placeholders != len(images):
            raise ValueError(
                f"conversation has {num_placeholders} {self.image_token} placeholders but {len(images)} images were given"
            )
        image_inputs, tokens = self.process_images([images])
        input_ids: list[int] = []
        labels: list[int] = []
        k = 0
        for token, is_assistant in zip(ids, assistant):
            if token == image_id:
                input_ids.extend([image_id] * tokens[k])
                labels.extend([IGNORE_INDEX] * tokens[k])
                k += 1
            else:
                input_ids.append(token)
                labels.append(token if is_assistant else IGNORE_INDEX)
        if max_length is not None and len(input_ids) > max_length:
            raise ValueError(f"conversation encodes to {len(input_ids)} tokens, more than max_length={max_length}")
        first_user = next((m for m in messages if m.get("role") == "user"), None)
        user_text = _content_text(first_user["content"]) if first_user is not None else ""
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.ones(len(input_ids), dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "pixel_values": image_inputs.get("pixel_values"),
            "image_sizes": image_inputs.get("image_sizes"),
            "expert_id": self.route(user_text),
            "task_tag": find_task_tag(user_text, self.router_table),
        }

    # ------------------------------------------------------------------ decoding
    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        """Forward to the tokenizer's ``batch_decode``."""
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        """Forward to the tokenizer's ``decode``."""
        return self.tokenizer.decode(*args, **kwargs)


def _pad_offsets(offsets: list[list[tuple[int, int]]], attention_mask: list[list[int]]) -> list[list[tuple[int, int]]]:
    """Give padding positions an empty ``(0, 0)`` span, on the side where ``tokenizer.pad`` put them."""
    padded = []
    for spans, mask in zip(offsets, attention_mask):
        pad = [(0, 0)] * (len(mask) - len(spans))
        padded.append(spans + pad if not mask or mask[0] == 1 else pad + spans)
    return padded


def _content_text(content: Any) -> str:
    """Text of a message content given as a string or as TRL's list of typed items."""
    if isinstance(content, str):
        return content
    return "".join(item.get("text", "") for item in content if item.get("type") == "text")


__all__ = ["UniVLMProcessor", "expand2square", "load_image"]
