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


class _Row:
    """The decoding state of one answer: grammar state, output so far, and the tokens still to feed.

    Shared by :func:`constrained_decode` (one row) and :func:`constrained_decode_batch` (K rows), so
    both pick and force tokens by exactly the same rules.
    """

    def __init__(self, grammar: Grammar | None, max_new_tokens: int, eos: set[int], prompt: list[int]) -> None:
        self.state = grammar.new_state() if grammar is not None else None
        self.budget = max_new_tokens
        self.eos = eos
        self.out = DecodeOutput()
        self.pending = list(prompt)  # tokens the next forward pass must consume
        self.done = False

    def start(self) -> bool:
        """Add the tokens forced before any choice; returns whether the model must run at all."""
        if self.budget <= 0:
            self.done = True
            return False
        if self.state is not None:
            # Tokens forced before any choice (e.g. "[" of a box) ride along with the prompt's pass.
            head = self.state.forced_tokens()
            self.out.token_ids += head[: self.budget]
            self.out.forced += len(self.out.token_ids)
            if len(head) > self.budget:
                self.done = True
                return False
            self.pending += head
            if self.state.complete:  # the grammar left no choice at all: the model need not run
                self.out.complete = True
                self.done = True
                return False
        return True

    def step(self, logits, temperature: float, top_k: int, generator) -> None:
        """Choose the next token from ``logits`` (V,), append it and the forced tokens after it."""
        self.out.forward_passes += 1
        allowed = self.state.allowed_tokens() if self.state is not None else None
        tok = _pick(logits, allowed, temperature, top_k, generator)
        self.out.sampled += 1
        if tok in self.eos and self.state is None:
            self.out.stopped_by_eos = True
            self.done = True
            return
        chunk = [tok]
        if self.state is not None:
            self.state.advance(tok)
            chunk += self.state.forced_tokens()
            self.out.forced += len(chunk) - 1
        room = self.budget - len(self.out.token_ids)
        self.out.token_ids += chunk[:room]
        self.pending = chunk
        if len(chunk) > room:  # the budget cut the forced tokens short: the answer is incomplete
            self.done = True
        elif self.state is not None and self.state.complete:
            # Nothing follows a finished answer but end-of-sequence: no need to run the last chunk.
            self.out.complete = True
            self.done = True
        elif len(self.out.token_ids) >= self.budget:
            self.done = True


def _eos_set(eos_token_id: int | Sequence[int] | None) -> set[int]:
    return {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or ())


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
    row = _Row(grammar, max_new_tokens, _eos_set(eos_token_id), input_ids[0].tolist())
    kwargs = dict(step_kwargs or {})
    first = dict(first_kwargs or {})
    cache = past_key_values
    cache_kw = cache_kwarg()
    if not row.start():
        row.out.past_key_values = past_key_values
        return row.out
    while not row.done:
        tokens = row.pending
        extra_passes = 0
        if not jump_forward and len(tokens) > 1 and row.out.forward_passes > 0:
            for tok_ in tokens[:-1]:
                one = torch.tensor([[tok_]], dtype=input_ids.dtype, device=input_ids.device)
                with torch.no_grad():
                    step = model(input_ids=one, use_cache=True, logits_to_keep=1, **{cache_kw: cache}, **kwargs)
                cache = output_cache(step)
                extra_passes += 1
            tokens = tokens[-1:]
        current = torch.tensor([tokens], dtype=input_ids.dtype, device=input_ids.device)
        with torch.no_grad():
            # logits_to_keep=1: only the last position's logits are needed (a prefill over a long prompt
            # would otherwise materialise T x vocab logits).
            result = model(
                input_ids=current, use_cache=True, logits_to_keep=1, **{cache_kw: cache}, **kwargs, **first
            )
        first = {}
        cache = output_cache(result)
        row.out.forward_passes += extra_passes
        row.step(result.logits[0, -1], temperature, top_k, generator)
    row.out.past_key_values = cache
    return row.out


def constrained_decode_batch(
    model,
    prompts: Sequence[Sequence[int]],
    *,
    grammars: Sequence[Grammar | None],
    max_new_tokens: int | Sequence[int] = 256,
    eos_token_id: int | Sequence[int] | None = None,
    pad_token_id: int = 0,
    past_key_values=None,
    past_length: int = 0,
    expert_ids=None,
    temperature: float = 0.0,
    top_k: int = 0,
    generators: Sequence[Any] | None = None,
) -> list[DecodeOutput]:
    """Decode K answers together, one forward pass per step for all rows, with jump-forward per row.

    Every row continues the same cached prefix (e.g. the image tokens of one image) with its own
    prompt suffix, grammar state and budget. At each step a row feeds its pending tokens (its suffix
    first, then a sampled token plus the tokens its grammar forces); rows are padded to the
    longest chunk on the left, so every row's last token is in the last column, and the pads are
    masked out of attention in this and every later step. Rows that finish drop out of the batch and the cache. In
    memory-bound decode a pass over K rows costs about as much as a pass over one, so K masks cost
    about as many passes as the longest one.

    Args:
        model: A causal LM as for :func:`constrained_decode`, accepting ``attention_mask`` and
            ``position_ids``.
        prompts: Per row, the tokens after the cached prefix.
        grammars: Per row, its grammar (None decodes freely).
        max_new_tokens: One budget for all rows, or one per row.
        eos_token_id: Ends free decoding.
        pad_token_id: Filler for short chunks (masked out, never attended to).
        past_key_values: A batch-1 cache holding the shared prefix, or None. It is expanded to the
            batch in place: pass a copy if the caller keeps using it.
        past_length: Tokens in ``past_key_values``.
        expert_ids: LongTensor (K,) of expert ids, or None for a dense model.
        temperature, top_k: As in :func:`constrained_decode`.
        generators: Per row ``torch.Generator`` for sampling, or None.

    Returns:
        One :class:`DecodeOutput` per row, in order (``past_key_values`` is None: the batch cache
        is not split back into rows). ``forward_passes`` counts the passes the row took part in.

    Raises:
        ValueError: If the per-row arguments differ in length from ``prompts``.
    """
    import torch

    from univlm.models.compat import cache_kwarg, output_cache

    k = len(prompts)
    budgets = [max_new_tokens] * k if isinstance(max_new_tokens, int) else list(max_new_tokens)
    gens = list(generators) if generators is not None else [None] * k
    if not (len(grammars) == len(budgets) == len(gens) == k):
        raise ValueError(
            f"got {k} prompts, {len(grammars)} grammars, {len(budgets)} budgets and {len(gens)} generators"
        )
    if expert_ids is not None and tuple(expert_ids.shape) != (k,):
        raise ValueError(f"expert_ids has shape {tuple(expert_ids.shape)}, expected ({k},)")
    eos = _eos_set(eos_token_id)
    rows = [_Row(g, b, eos, list(p)) for g, b, p in zip(grammars, budgets, prompts, strict=True)]
    active = [r for r, row in enumerate(rows) if row.start()]
    if not active:
        return [row.out for row in rows]
    device = model.device if hasattr(model, "device") else None
    cache = past_key_values
    if cache is not None:
        cache.batch_repeat_interleave(len(active))
    history = torch.ones(len(active), past_length, dtype=torch.long, device=device)  # (A, P) attended slots
    next_pos = [past_length] * len(active)
    experts = expert_ids[active] if expert_ids is not None else None
    cache_kw = cache_kwarg()
    while active:
        width = max(len(rows[r].pending) for r in active)
        ids = torch.full((len(active), width), pad_token_id, dtype=torch.long, device=device)  # (A, L)
        new_mask = torch.zeros(len(active), width, dtype=torch.long, device=device)  # (A, L)
        positions = torch.zeros(len(active), width, dtype=torch.long, device=device)  # (A, L)
        for i, r in enumerate(active):
            # Pads go BEFORE a short chunk, so every row's last real token sits in the last column
            # and only that column's logits are computed (the LM head is the costliest matrix).
            n = len(rows[r].pending)
            ids[i, width - n :] = torch.tensor(rows[r].pending, dtype=torch.long)
            new_mask[i, width - n :] = 1
            positions[i] = next_pos[i] + (torch.arange(width) - (width - n)).clamp(min=0)  # pads: first position
            next_pos[i] += n
        attention = torch.cat([history, new_mask], dim=1)  # (A, P + L)
        extra = {"expert_ids": experts} if experts is not None else {}
        with torch.no_grad():
            result = model(
                input_ids=ids,
                attention_mask=attention,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{cache_kw: cache},
                **extra,
            )
        cache = output_cache(result)
        history = attention
        for i, r in enumerate(active):
            rows[r].step(result.logits[i, -1], temperature, top_k, gens[r])
        stay = [i for i, r in enumerate(active) if not rows[r].done]
        if len(stay) < len(active):
            if stay and cache is not None:
                cache.batch_select_indices(torch.tensor(stay, device=device))
            history = history[stay]
            next_pos = [next_pos[i] for i in stay]
            experts = experts[stay] if experts is not None else None
            active = [active[i] for i in stay]
    return [row.out for row in rows]
