"""Tokenizer extension for univlm: ``<image>``, task tags, reserved mask tokens and the chat template."""

from __future__ import annotations

from tokenizer_ext.extend import (
    IMAGE_TOKEN,
    extend_tokenizer,
    image_token_id,
    load_chat_template,
    mask_tokens,
    resize_embeddings_for,
)

__all__ = [
    "IMAGE_TOKEN",
    "extend_tokenizer",
    "image_token_id",
    "load_chat_template",
    "mask_tokens",
    "resize_embeddings_for",
]
