"""Extend a Qwen2 tokenizer for univlm and grow a model's embeddings to match.

Design choices (and their sources):
- ``<image>`` is one added special token, as in LLaVA-OneVision; the processor expands each
  placeholder into as many copies as the image has feature vectors, and the model scatters image
  features into exactly those positions.
- Task tags (``[CLS]`` ... ``[CCD]``) are plain text by default, because RSUniVLM trains and serves
  them as ordinary BPE text; ``tags_as_special=True`` makes each tag one added special token instead.
- ``[SEG0]`` .. ``[SEG{n-1}]`` are reserved answer-side mask tokens for an optional GeoPix-style mask
  head. They are added as *non-special* tokens so they survive ``decode(skip_special_tokens=True)``,
  and they are distinct from the prompt-side task tag ``[SEG]`` (which the router reads).
- ``<seg>`` / ``</seg>`` stay plain text, as in Text4Seg.
- Embeddings only ever grow: Qwen2-0.5B's matrix (151936 rows) is larger than its tokenizer, and
  the ids we add normally fall into that slack. New rows are the mean of the existing rows, so a
  new token starts at the centre of the embedding cloud and does not perturb the output softmax.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from univlm.tasks import IMAGE_TOKEN, TASK_TAGS

logger = logging.getLogger(__name__)

MASK_TOKEN_TEMPLATE = "[SEG{}]"
SEG_OPEN, SEG_CLOSE = "<seg>", "</seg>"


def mask_tokens(num_mask_tokens: int = 6) -> list[str]:
    """Return the reserved mask-token strings ``[SEG0]`` .. ``[SEG{n-1}]``."""
    return [MASK_TOKEN_TEMPLATE.format(i) for i in range(num_mask_tokens)]


def load_chat_template() -> str:
    """Return univlm's chat template (package data ``tokenizer_ext/chat_template.jinja``)."""
    return resources.files(__package__).joinpath("chat_template.jinja").read_text(encoding="utf-8")


def extend_tokenizer(
    tokenizer: Any,
    tags_as_special: bool = False,
    num_mask_tokens: int = 6,
    set_chat_template: bool = True,
) -> Any:
    """Add univlm's tokens to a Qwen2-style tokenizer, in place. Calling it twice changes nothing.

    Args:
        tokenizer: A ``transformers`` fast tokenizer (e.g. ``Qwen2Tokenizer``).
        tags_as_special: Add the seven task tags as added special tokens (one id each) instead of
            leaving them as plain BPE text (the RSUniVLM-compatible default).
        num_mask_tokens: How many reserved mask tokens ``[SEG0]``.. to add (0 for none).
        set_chat_template: Also install univlm's chat template (with ``{% generation %}`` markers).

    Returns:
        The same tokenizer, for chaining.

    Raises:
        ValueError: If ``num_mask_tokens`` is negative.
    """
    from tokenizers import AddedToken

    if num_mask_tokens < 0:
        raise ValueError(f"num_mask_tokens must be >= 0, got {num_mask_tokens}")
    vocab = tokenizer.get_vocab()

    def missing(tokens: list[str]) -> list[str]:
        return [t for t in tokens if t not in vocab]

    special = missing([IMAGE_TOKEN] + (list(TASK_TAGS) if tags_as_special else []))
    plain = missing(mask_tokens(num_mask_tokens))
    # normalized=False keeps the strings verbatim; lstrip/rstrip stay False so neighbouring spaces and
    # newlines tokenize exactly as they would without the added token.
    added = tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in special], special_tokens=True)
    added += tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain])
    if added:
        logger.info("added %d tokens to the tokenizer (now %d): %s", added, len(tokenizer), special + plain)
    if set_chat_template:
        tokenizer.chat_template = load_chat_template()
    return tokenizer


def image_token_id(tokenizer: Any) -> int:
    """Return the id of ``<image>``.

    Raises:
        ValueError: If the tokenizer has no ``<image>`` token (call :func:`extend_tokenizer` first).
    """
    token_id = tokenizer.get_vocab().get(IMAGE_TOKEN)
    if token_id is None:
        raise ValueError(f"tokenizer has no {IMAGE_TOKEN!r} token; call tokenizer_ext.extend_tokenizer first")
    return token_id


def resize_embeddings_for(model: Any, tokenizer: Any) -> bool:
    """Grow ``model``'s token embeddings to fit ``tokenizer`` (never shrink), mean-initialising new rows.

    Also records the tokenizer's ``<image>`` id as ``model.config.image_token_id``.

    Args:
        model: A ``transformers.PreTrainedModel`` with ``get_input_embeddings`` (a causal LM or a
            vision-language model such as ``UniVLMForConditionalGeneration``).
        tokenizer: The (extended) tokenizer the model will be used with.

    Returns:
        True when the embeddings were resized, False when they already had room.

    Raises:
        ValueError: If the tokenizer has no ``<image>`` token.
    """
    import torch

    image_id = image_token_id(tokenizer)
    old_rows = model.get_input_embeddings().weight.shape[0]
    new_rows = len(tokenizer)
    resized = new_rows > old_rows
    if resized:
        old_output = model.get_output_embeddings()
        tied = old_output is not None and old_output.weight is model.get_input_embeddings().weight
        # mean_resizing=False: transformers' mean_resizing samples around the mean with the
        # embeddings' covariance; we want the plain mean (deterministic, no covariance of a 151k x 896 matrix).
        model.resize_token_embeddings(new_rows, mean_resizing=False)
        matrices = [model.get_input_embeddings().weight]
        output = model.get_output_embeddings()
        if output is not None and not tied and output.weight is not matrices[0]:
            matrices.append(output.weight)
        with torch.no_grad():
            for weight in matrices:  # (new_rows, D)
                weight[old_rows:] = weight[:old_rows].mean(dim=0, keepdim=True).to(weight.dtype)
        model.config.get_text_config().vocab_size = new_rows
        logger.info("resized token embeddings %d -> %d rows (mean-initialised)", old_rows, new_rows)
    model.config.image_token_id = image_id
    return resized
