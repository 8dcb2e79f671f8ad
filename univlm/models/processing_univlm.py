"""Processor for UniVLM: ``<image>`` placeholder expansion, prompts (chat template) and routing ids.

Design choices and their sources:

- The image side (pad-to-square, AnyRes token counts, pixel values, file loading) is
  :mod:`univlm.models.image_processing_univlm`, as transformers splits ``image_processing_*`` from
  ``processing_*``; training labels (``encode_conversation``) are built in
  :mod:`univlm.training.conversation`.
- Placeholders are expanded on token ids, not on text: ``<image>`` is one added token that never
  merges with its neighbours, so repeating its id equals tokenizing the repeated string, without
  tokenizing 730 copies of it per image.
- Prompts follow RSUniVLM's ``qwen_1_5`` conversation (LLaVA-NeXT ``conv_qwen``): the system prompt
  ``You are a helpful assistant.``, then the user turn ``<image>\\n{msg}`` for one image and
  ``<image> <image>\\n{msg}`` for two (RSUniVLM's demo puts both images on one line, separated by a
  space). The chat template also reads the older ``<image>\\n<image>\\n`` form and renders it the new way.
- The processor keeps no routing table: ``expert_ids`` come from
  :func:`univlm.models.router.route_from_config` on the latest user turn of each prompt, with the model
  config passed per call (``processor(..., config=model.config)``). Without one, univlm's default
  routing applies and a warning says so.
- Names that moved keep working for one release through
  :class:`~univlm.models.processing_compat.LegacyProcessorAPI` (deprecated).
- ``__call__`` can return character offsets of the unexpanded text, so TRL's VLM collator
  (``apply_chat_template(..., return_assistant_tokens_mask=True)``) gets the assistant mask.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from univlm.data.templates import image_prefix
from univlm.models.image_processing_univlm import (
    ANYRES_RE,
    build_image_processor,
    crop_size,
    expand2square,
    group_images,
    load_image,
    process_images,
)
from univlm.models.processing_compat import LegacyProcessorAPI
from univlm.models.router import Route, route_from_config
from univlm.tasks import IMAGE_TOKEN

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
# Options other processors take that have no meaning here (offsets already refer to the unexpanded text).
_SILENTLY_IGNORED = frozenset({"return_text_replacement_offsets", "return_mm_token_type_ids"})
# Routing fields older processors saved in processor_config.json; routing now lives in config.json alone.
_LEGACY_ROUTING_FIELDS = frozenset({"router_table", "expert_names", "default_expert"})


class UniVLMProcessor(LegacyProcessorAPI, ProcessorMixin):
    r"""Image processor + Qwen2 tokenizer for UniVLM.

    Args:
        image_processor: A SigLIP-style image processor (``SiglipImageProcessor`` for ``"pad"``) or a
            ``LlavaOnevisionImageProcessor`` (needed for ``"anyres_max_N"``). Its ``size`` is the vision
            tower's ``image_size`` and its ``image_mean`` gives the padding colour.
        tokenizer: A Qwen2 tokenizer extended with ``tokenizer_ext.extend_tokenizer`` (it must know ``<image>``).
        chat_template: Jinja chat template; univlm's (``tokenizer_ext/chat_template.jinja``) when None.
        image_token: The placeholder string.
        image_mode: ``"pad"`` or ``"anyres_max_N"``.
        patch_size: The vision tower's patch size (14 for SigLIP-so400m).

    Raises:
        ValueError: If the tokenizer lacks ``<image>`` or the image mode is unknown.
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        chat_template=None,
        image_token: str = IMAGE_TOKEN,
        image_mode: str = "pad",
        patch_size: int = 14,
        **kwargs,
    ):
        if chat_template is None:
            from tokenizer_ext import load_chat_template

            chat_template = load_chat_template()
        self.image_token = image_token
        self.image_mode = image_mode
        self.patch_size = int(patch_size)
        self._warned_default_routing = False
        legacy = sorted(_LEGACY_ROUTING_FIELDS & kwargs.keys())
        if legacy:
            logger.info("UniVLMProcessor ignores %s: routing is read from the model config", legacy)
        unknown = sorted(kwargs.keys() - _LEGACY_ROUTING_FIELDS)
        if unknown:
            logger.warning("UniVLMProcessor ignores unknown arguments %s", unknown)
        super().__init__(image_processor, tokenizer, chat_template=chat_template)
        self._validate()

    # ------------------------------------------------------------------ configuration
    def _validate(self) -> None:
        if self.image_token not in self.tokenizer.get_vocab():
            raise ValueError(
                f"tokenizer has no {self.image_token!r} token; call tokenizer_ext.extend_tokenizer(tokenizer) first"
            )
        if self.image_mode != "pad" and not ANYRES_RE.match(self.image_mode):
            raise ValueError(f"image_mode must be 'pad' or 'anyres_max_N', got {self.image_mode!r}")
        if self.image_mode != "pad" and not hasattr(self.image_processor, "image_grid_pinpoints"):
            raise ValueError(
                f"image_mode {self.image_mode!r} needs a LlavaOnevisionImageProcessor (with image_grid_pinpoints), "
                f"got {type(self.image_processor).__name__}"
            )

    @property
    def image_token_id(self) -> int:
        """Id of the ``<image>`` placeholder token."""
        return self.tokenizer.convert_tokens_to_ids(self.image_token)

    @property
    def image_size(self) -> int:
        """Side S of the square crop fed to the vision tower."""
        return crop_size(self.image_processor)

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
            **kwargs: Further ``UniVLMProcessor`` arguments (``chat_template``, ...).

        Returns:
            The processor.
        """
        from tokenizer_ext import extend_tokenizer

        if extend and IMAGE_TOKEN not in tokenizer.get_vocab():
            extend_tokenizer(tokenizer)
        image_processor = build_image_processor(image_size, image_mode)
        return cls(image_processor, tokenizer, image_mode=image_mode, patch_size=patch_size, **kwargs)

    @classmethod
    def from_config(cls, tokenizer: Any, config: Any, extend: bool = True) -> UniVLMProcessor:
        """Build a processor that matches a ``UniVLMConfig``: vision size, patch and image mode.

        Args:
            tokenizer: A Qwen2 tokenizer (extended in place when ``extend`` and it lacks ``<image>``).
            config: A ``UniVLMConfig`` (or any ``LlavaOnevisionConfig``).
            extend: See :meth:`from_tokenizer`.

        Returns:
            The processor. Routing is not copied: pass ``config`` to :meth:`__call__`.
        """
        image_mode = getattr(config, "image_mode", "pad")
        processor = cls.from_tokenizer(
            tokenizer,
            image_size=config.vision_config.image_size,
            patch_size=config.vision_config.patch_size,
            image_mode=image_mode,
            extend=extend,
        )
        if image_mode != "pad" and getattr(config, "image_grid_pinpoints", None):
            processor.image_processor.image_grid_pinpoints = [list(p) for p in config.image_grid_pinpoints]
        return processor

    # ------------------------------------------------------------------ routing and prompts
    def route_prompt(self, prompt: str | Sequence[Mapping[str, Any]], config: Any = None) -> Route:
        """Route the latest user turn of ``prompt`` with ``config``'s routing fields.

        Args:
            prompt: A rendered chat prompt, a bare user prompt or a message list.
            config: The model config (``model.config``); None uses univlm's default routing, with a
                warning the first time, since a checkpoint's own table may differ.

        Returns:
            The :class:`~univlm.models.router.Route`.
        """
        if config is None and not self._warned_default_routing:
            logger.warning(
                "no model config given to the processor; routing with univlm's default table "
                "(pass config=model.config so the checkpoint's router_table applies)"
            )
            self._warned_default_routing = True
        return route_from_config(config, prompt)

    def build_prompt(self, messages_or_text: str | Sequence[Mapping[str, Any]], num_images: int | None = None) -> str:
        """Render a prompt with the chat template and the assistant generation prompt.

        Args:
            messages_or_text: A list of chat messages, or one user prompt string. A string without
                ``<image>`` placeholders gets RSUniVLM's prefix (:func:`image_prefix`): ``"<image>\\n"``
                for one image, ``"<image> <image>\\n"`` for two.
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
                text = image_prefix(count, self.image_token) + text
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
    def process_images(self, groups: Sequence[Sequence[Any]]) -> tuple[dict[str, Any], list[int]]:
        """Pixel values and per-image placeholder counts of per-sample image lists.

        See :func:`univlm.models.image_processing_univlm.process_images`.
        """
        return process_images(self.image_processor, groups, self.image_mode, self.patch_size)

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
        config: Any = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Tokenize prompts, expand their ``<image>`` placeholders, process images and route.

        Args:
            text: One prompt or a batch of prompts, already formatted (see :meth:`build_prompt`).
            images: None, one image, a flat list (consumed in placeholder order across the batch) or one
                list per sample. Images are PIL images, paths or uint8 arrays.
            return_tensors: ``"pt"`` (default), ``"np"`` or None for lists.
            padding, padding_side, pad_to_multiple_of: Passed to ``tokenizer.pad``.
            truncation: Cut sequences to ``max_length`` tokens (after placeholder expansion).
            max_length: Length limit used with ``truncation``.
            add_special_tokens: Passed to the tokenizer (Qwen2 adds none; chat prompts carry their own).
            return_offsets_mapping: Also return ``offset_mapping`` (B, T, 2) in characters of the
                *unexpanded* text (image tokens get empty spans), as TRL's assistant mask needs.
            videos, audio: Must be None (univlm takes images only).
            config: The model config whose routing fields give ``expert_ids`` (pass ``model.config``);
                None routes with univlm's default routing and logs a warning once per processor.
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
        groups = group_images(images, counts, self.image_token)
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
            "expert_ids": [self.route_prompt(t, config).expert_id for t in texts],
            **image_inputs,
        }
        if return_offsets_mapping:
            data["offset_mapping"] = _pad_offsets(offsets, batch["attention_mask"])
        return BatchFeature(data=data, tensor_type=return_tensors)

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


__all__ = ["IGNORE_INDEX", "UniVLMProcessor", "expand2square", "image_prefix", "load_image"]
