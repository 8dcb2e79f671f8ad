"""Grammar-constrained decoding of one answer: ``constrained_decode``.

Design choices and sources:
- The loop drives the model directly with its KV cache rather than through ``generate``, so that
  tokens a grammar forces are appended without consulting the model. A sampled token and the forced
  tokens that follow it go through ONE forward pass ("jump-forward", as in SGLang's compressed
  finite-state machines), so forward passes per mask equal the number of genuine choices rather
  than the number of tokens.
- The grammars themselves live in :mod:`univlm.inference.grammars`; batched ``generate`` users get
  the same grammars through :mod:`univlm.inference.logits_processor` (which cannot jump forward).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from univlm.inference.grammars import Grammar


@dataclass
class DecodeOutput:
    """What :func:`constrained_decode` produced.

    Attributes:
        token_ids: Generated tokens (end-of-sequence excluded).
        forward_passes: Model forward calls made, the prefill of ``input_ids`` included.
        sampled: Tokens chosen from the model's distribution.
        forced: Tokens appended because the grammar allowed nothing else.
        complete: Whether the grammar (if any) reached its end; False when the budget ran out.
        stopped_by_eos: Whether an end-of-sequence token ended generation.
        past_key_values: The cache after the last forward pass (covers all but the last token).
    """

    token_ids: list[int] = field(default_factory=list)
    forward_passes: int = 0
    sampled: int = 0
    forced: int = 0
    complete: bool = False
    stopped_by_eos: bool = False
    past_key_values: Any = None


def _pick(logits, allowed: list[int] | None, temperature: float, top_k: int, generator) -> int:
    import torch

    logits = logits.float()
    if allowed is not None:
        masked = torch.full_like(logits, float("-inf"))
        index = torch.tensor(allowed, device=logits.device)
        masked[index] = logits[index]
        logits = masked
    if temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def constrained_decode(
    model,
    input_ids,
    *,
    grammar: Grammar | None = None,
    max_new_tokens: int = 256,
    eos_token_id: int | Sequence[int] | None = None,
    past_key_values=None,
    first_kwargs: Mapping[str, Any] | None = None,
    step_kwargs: Mapping[str, Any] | None = None,
    temperature: float = 0.0,
    top_k: int = 0,
    generator=None,
    jump_forward: bool = True,
) -> DecodeOutput:
    """Greedy or sampled decoding of ONE sequence, optionally constrained by a grammar.

    The loop drives the model directly with its KV cache: each forward pass consumes the pending
    tokens (the prompt or the uncached prompt suffix first, then a sampled token plus the tokens the
    grammar forces after it) and yields the logits for the next choice.

    Args:
        model: A causal LM (``model(input_ids=..., cache=..., use_cache=True, logits_to_keep=1)``; the cache
            keyword is ``past_key_values`` on transformers releases before the rename).
        input_ids: LongTensor (1, T) of tokens not yet in ``past_key_values``.
        grammar: Constrains the answer; None decodes freely.
        max_new_tokens: Budget of generated tokens (forced ones included).
        eos_token_id: Ends free decoding; appended implicitly when the grammar completes.
        past_key_values: A cache already holding the tokens before ``input_ids`` (prefix reuse).
        first_kwargs: Extra forward arguments for the first pass only (``pixel_values``, ...).
        step_kwargs: Extra forward arguments for every pass (``expert_ids``, ...).
        temperature: 0 for greedy; otherwise softmax sampling at this temperature.
        top_k: With sampling, keep only the k most likely allowed tokens (0 = all).
        generator: ``torch.Generator`` for reproducible sampling.
        jump_forward: Feed forced tokens together in one pass; False feeds one token per pass (for
            benchmarking; the tokens produced are the same).

    Returns:
        A :class:`DecodeOutput`.

    Raises:
        ValueError: If ``input_ids`` is not a single sequence.
    """
    import torch

    from univlm.models.compat import cache_kwarg, output_cache

    if input_ids.ndim != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"constrained_decode takes one sequence (1, T), got shape {tuple(input_ids.shape)}")
    eos = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or ())
    state = grammar.new_state() if grammar is not None else None
    out = DecodeOutput()
    kwargs = dict(step_kwargs or {})
    first = dict(first_kwargs or {})
    cache = past_key_values
    cache_kw = cache_kwarg()
    current = input_ids
    if max_new_tokens <= 0:
        out.past_key_values = past_key_values
        return out
    if state is not None:
        # Tokens forced before any choice (e.g. "[" of a box) ride along with the prompt's pass.
        head = state.forced_tokens()
        out.token_ids += head[:max_new_tokens]
        out.forced += len(out.token_ids)
        if len(head) > max_new_tokens:
            out.past_key_values = past_key_values
            return out
        if head:
            current = torch.cat([input_ids, input_ids.new_tensor([head])], dim=1)
        if state.complete:  # the grammar left no choice at all: the model need not run
            out.complete = True
            out.past_key_values = past_key_values
            return out
    while True:
        with torch.no_grad():
            # logits_to_keep=1: only the last position's logits are needed (a prefill over a long prompt
            # would otherwise materialise T x vocab logits).
            result = model(
                input_ids=current, use_cache=True, logits_to_keep=1, **{cache_kw: cache}, **kwargs, **first
            )
        first = {}
        out.forward_passes += 1
        cache = output_cache(result)
        logits = result.logits[0, -1]
        allowed = state.allowed_tokens() if state is not None else None
        tok = _pick(logits, allowed, temperature, top_k, generator)
        out.sampled += 1
        if tok in eos and state is None:
            out.stopped_by_eos = True
            break
        chunk = [tok]
        if state is not None:
            state.advance(tok)
            chunk += state.forced_tokens()
            out.forced += len(chunk) - 1
        room = max_new_tokens - len(out.token_ids)
        out.token_ids += chunk[:room]
        if len(chunk) > room:  # the budget cut the forced tokens short: the answer is incomplete
            break
        if state is not None and state.complete:
            # Nothing follows a finished answer but end-of-sequence: no need to run the last chunk.
            out.complete = True
            break
        if len(out.token_ids) >= max_new_tokens:
            break
        if jump_forward:
            current = torch.tensor([chunk], dtype=input_ids.dtype, device=input_ids.device)
        else:
            for tok_ in chunk[:-1]:
                one = torch.tensor([[tok_]], dtype=input_ids.dtype, device=input_ids.device)
                with torch.no_grad():
                    step = model(input_ids=one, use_cache=True, logits_to_keep=1, **{cache_kw: cache}, **kwargs)
                    cache = output_cache(step)
                out.forward_passes += 1
            current = torch.tensor([chunk[-1:]], dtype=input_ids.dtype, device=input_ids.device)
    out.past_key_values = cache
    return out
