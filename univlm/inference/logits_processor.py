"""``GrammarLogitsProcessor``: univlm's answer grammars applied to ``model.generate``, one per row."""

from __future__ import annotations

from collections.abc import Sequence

from univlm.inference.grammars import Grammar, GrammarState


class GrammarLogitsProcessor:
    """A ``transformers`` logits processor applying one grammar state per batch row.

    Rows whose answer is complete may only emit ``eos_token_id``. Use with greedy or sampled
    ``model.generate`` (not beam search): the processor tracks rows by index.

    Args:
        grammars: One grammar per batch row (None leaves that row free).
        eos_token_id: Token allowed once a row's answer is complete.
        max_new_tokens: Optional per-row budgets; a row that used its budget may only emit
            ``eos_token_id`` (``generate`` has one budget for the whole batch).

    Raises:
        ValueError: If ``max_new_tokens`` and ``grammars`` differ in length.
    """

    def __init__(
        self,
        grammars: Sequence[Grammar | None],
        eos_token_id: int,
        max_new_tokens: Sequence[int] | None = None,
    ) -> None:
        self.grammars = list(grammars)
        self.eos_token_id = eos_token_id
        self.budgets = list(max_new_tokens) if max_new_tokens is not None else None
        if self.budgets is not None and len(self.budgets) != len(self.grammars):
            raise ValueError(f"got {len(self.budgets)} budgets for {len(self.grammars)} grammars")
        self._states: list[GrammarState | None] | None = None
        self._prompt_len = 0

    def __call__(self, input_ids, scores):
        import torch

        if input_ids.shape[0] != len(self.grammars):
            raise ValueError(
                f"batch has {input_ids.shape[0]} rows, processor has {len(self.grammars)} grammars"
            )
        if self._states is None:
            self._states = [g.new_state() if g is not None else None for g in self.grammars]
            self._prompt_len = input_ids.shape[1]
        elif input_ids.shape[1] > self._prompt_len:
            last = input_ids[:, -1].tolist()
            for state, tok in zip(self._states, last, strict=True):
                if state is not None and not state.complete:
                    state.advance(int(tok))
        mask = torch.zeros_like(scores, dtype=torch.bool)
        generated = input_ids.shape[1] - self._prompt_len
        for row, state in enumerate(self._states):
            if self.budgets is not None and generated >= self.budgets[row]:
                allowed = [self.eos_token_id]
            elif state is None:
                continue
            else:
                allowed = state.allowed_tokens() if not state.complete else [self.eos_token_id]
            mask[row] = True
            mask[row, allowed] = False
        return scores.masked_fill(mask, float("-inf"))
