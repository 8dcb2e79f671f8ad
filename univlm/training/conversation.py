"""Encode one training conversation with assistant-only labels.

Design choices and their sources:

- Labels come from the chat template's ``{% generation %}`` markers (the tokenizer's assistant-token
  mask, as TRL's ``assistant_only_loss`` uses them): only assistant turns, including their
  ``<|im_end|>``, are supervised; image placeholder tokens never are.
- Each ``<image>`` id is expanded to its image's token count with the same
  :func:`~univlm.models.image_processing_univlm.process_images` the processor's ``__call__`` uses, so a
  training prompt and an inference prompt of the same turn give the same ids.
- The expert comes from :func:`univlm.models.router.route_from_config` on the latest user turn with
  the model config's routing (``config=model.config``), as at inference.
- Over-long encodings raise instead of being truncated (truncation would cut image tokens or the
  answer), so the caller can count and skip them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from univlm.models.processing_univlm import IGNORE_INDEX
from univlm.models.router import latest_user_turn

__all__ = ["IGNORE_INDEX", "encode_conversation"]


def encode_conversation(
    processor: Any,
    messages: Sequence[Mapping[str, Any]],
    images: Sequence[Any] | None = None,
    max_length: int | None = None,
    config: Any = None,
    processed_images: tuple[Mapping[str, Any], Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Encode one training conversation with assistant-only labels.

    Args:
        processor: A :class:`~univlm.models.processing_univlm.UniVLMProcessor`.
        messages: Chat messages (``role`` / ``content``); content is a string with ``<image>``
            placeholders or TRL's list form. Multi-turn is supported.
        images: The conversation's images, in placeholder order (PIL, paths or arrays).
        max_length: When set, a longer encoding raises instead of being truncated.
        config: The model config whose routing gives ``expert_id`` (pass ``model.config``); None uses
            univlm's default routing with a warning (see ``UniVLMProcessor.route_prompt``).
        processed_images: ``processor.process_images([images])`` of these images, computed earlier
            (a caller that meets the same images in many records processes them once); ``images``
            is then only counted against the placeholders.

    Returns:
        A dict with ``input_ids`` (T,), ``attention_mask`` (T,), ``labels`` (T,) = -100 except the
        assistant tokens and their ``<|im_end|>``, ``pixel_values`` (num_images, P, 3, S, S) or None,
        ``image_sizes`` (num_images, 2) or None, ``expert_id`` (int, routed on the latest user turn) and
        ``task_tag`` (the deciding tag, e.g. ``"[VG]"``, or None).

    Raises:
        ValueError: If there is no assistant turn, images and placeholders disagree, or the encoding
            exceeds ``max_length``.
    """
    messages = list(messages)
    if not any(m.get("role") == "assistant" for m in messages):
        raise ValueError("conversation has no assistant turn, so it has nothing to learn from")
    images = list(images or [])
    encoded = processor.tokenizer.apply_chat_template(
        messages,
        chat_template=processor.chat_template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids, assistant = list(encoded["input_ids"]), list(encoded["assistant_masks"])
    image_id = processor.image_token_id
    num_placeholders = sum(1 for t in ids if t == image_id)
    if num_placeholders != len(images):
        raise ValueError(
            f"conversation has {num_placeholders} {processor.image_token} placeholders but {len(images)} images were given"
        )
    image_inputs, tokens = processed_images if processed_images is not None else processor.process_images([images])
    if len(tokens) != len(images):
        raise ValueError(f"processed_images holds {len(tokens)} images but {len(images)} images were given")
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
    decision = processor.route_prompt(latest_user_turn(messages), config)
    return {
        "input_ids": torch.tensor(input_ids, dtype=torch.long),
        "attention_mask": torch.ones(len(input_ids), dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "pixel_values": image_inputs.get("pixel_values"),
        "image_sizes": image_inputs.get("image_sizes"),
        "expert_id": decision.expert_id,
        "task_tag": decision.tag,
    }
