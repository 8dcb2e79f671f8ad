"""Token-level grammars for mask and box answers: token tries, ``MaskGrammar``, ``BoxGrammar`` and
``MaskTokenGrammar`` (the ``[SEG0]``.. groups of a model with a mask head).

Design choices and sources:
- The grammars work on TOKENS of the real tokenizer, not on characters: every choice the model makes
  ("which label next", "which digit next", "end this run") is a set of alternative strings whose
  canonical tokenisation is computed once, in the context where the answer places them, and stored
  in a token trie. The model therefore only ever sees token sequences it was trained on (the ones
  ``encode_mask`` / ``format_box`` text tokenises to), and a label made of several BPE tokens is a
  path in the trie. A tokenisation that does not split at the grammar's boundaries raises
  :class:`GrammarError` at construction instead of silently constraining to odd tokens.
- Counts and coordinates are emitted digit by digit (Qwen2's pre-tokenizer splits digits, so every
  digit is one token, which is checked); a small integer automaton keeps every prefix extendable to a
  value in range (1..cells left in the row for run lengths, 0..100 and ``x1 <= x2``, ``y1 <= y2`` for
  boxes) and forbids leading zeros.
- Mask answers follow Text4Seg's row-wise RLE (``label *count`` runs joined by ``| ``, rows joined by
  ``\\n ``, a trailing ``\\n``) inside ``<seg>...</seg>``: exactly G rows of exactly G cells, labels
  only from the allowed set, and (as RLE's canonical form) no run repeating the previous run's label.
- Tokens the grammar forces (`` *``, ``|``, the rest of a multi-token label, the row newline, the
  closing tag, ``, `` in boxes) are reported by the state, so a decoder can append them without
  consulting the model (:mod:`univlm.inference.decoding`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence

from univlm.codecs.masks import ROW_SEP, RUN_SEP, SEG_CLOSE, SEG_OPEN
from univlm.tasks import DEFAULT_GRID, FORBIDDEN_LABEL_CHARS

DIGITS = "0123456789"
_END = ("end",)  # trie key of the closing alternative; labels are str keys


class GrammarError(ValueError):
    """The tokenizer cannot express a grammar, or a token violates it."""


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _decode_len(tokenizer, ids: Sequence[int]) -> int:
    return len(tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False))


def piece_tokens(tokenizer, before: str, piece: str, after: str) -> list[int]:
    """Canonical tokens of ``piece`` when it appears between ``before`` and ``after``.

    Args:
        tokenizer: A Hugging Face tokenizer.
        before: Text preceding the piece in the answer (context for merges).
        piece: The text whose tokens are wanted.
        after: Text following the piece.

    Returns:
        The token ids covering exactly ``piece`` in the tokenisation of ``before + piece + after``.

    Raises:
        GrammarError: If a token straddles the start or the end of ``piece``.
    """
    ids = _encode(tokenizer, before + piece + after)
    start, end = len(before), len(before) + len(piece)
    # Character offset reached after each token prefix (decode is exact for byte-level BPE).
    bounds = [_decode_len(tokenizer, ids[:i]) for i in range(len(ids) + 1)]
    if start not in bounds or end not in bounds:
        raise GrammarError(
            f"tokenizer merges {piece!r} with its context {before[-8:]!r}...{after[:8]!r}; token boundaries "
            f"at {bounds}, expected boundaries at {start} and {end}"
        )
    return ids[bounds.index(start) : bounds.index(end)]


def digit_tokens(tokenizer, before: str) -> list[int]:
    """Token id of each digit 0..9 after ``before``, checking that every digit is one token.

    Raises:
        GrammarError: If a digit is not a single token or its id depends on the neighbouring digit.
    """
    out = []
    for d in DIGITS:
        a = piece_tokens(tokenizer, before, d, "0")
        b = piece_tokens(tokenizer, before + "1", d, "1")
        if len(a) != 1 or a != b:
            raise GrammarError(
                f"digit {d!r} tokenises as {a} and {b}; constrained decoding needs one token per digit "
                "(Qwen2's pre-tokenizer splits numbers into digits)"
            )
        out.append(a[0])
    return out


class _Node:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.value: Hashable | None = None


def build_trie(alternatives: Mapping[Hashable, Sequence[int]]) -> _Node:
    """A token trie whose leaves carry the alternative's key.

    Raises:
        GrammarError: If an alternative is empty or a token prefix of another (the choice would be
            ambiguous).
    """
    root = _Node()
    for key, ids in alternatives.items():
        if not ids:
            raise GrammarError(f"alternative {key!r} has no tokens")
        node = root
        for tok in ids:
            if node.value is not None:
                raise GrammarError(f"alternative {node.value!r} is a token prefix of {key!r}")
            node = node.children.setdefault(tok, _Node())
        if node.children or node.value is not None:
            raise GrammarError(f"alternative {key!r} is a token prefix of another alternative")
        node.value = key
    return root


def _trie_depth(node: _Node) -> int:
    return 0 if not node.children else 1 + max(_trie_depth(c) for c in node.children.values())


def int_prefix_ok(digits: str, lo: int, hi: int) -> bool:
    """Whether the digit string can be completed into an integer in ``[lo, hi]`` (no leading zeros)."""
    if not digits or (len(digits) > 1 and digits[0] == "0"):
        return False
    value = int(digits)
    if digits == "0":
        return lo <= 0 <= hi
    scale = 1
    while value * scale <= hi:
        if value * scale + scale - 1 >= lo:
            return True
        scale *= 10
    return False


class GrammarState(ABC):
    """Position of one answer inside its grammar; advanced token by token."""

    @property
    @abstractmethod
    def complete(self) -> bool:
        """True once the answer is finished (only end-of-sequence may follow)."""

    @abstractmethod
    def allowed_tokens(self) -> list[int]:
        """Token ids allowed next (empty when complete)."""

    @abstractmethod
    def advance(self, token_id: int) -> None:
        """Consume one token.

        Raises:
            GrammarError: If the token is not allowed here.
        """

    def forced_tokens(self) -> list[int]:
        """Advance through every token the grammar forces from here and return them."""
        forced = []
        while not self.complete:
            allowed = self.allowed_tokens()
            if len(allowed) != 1:
                break
            forced.append(allowed[0])
            self.advance(allowed[0])
        return forced


class Grammar(ABC):
    """A token-level grammar built for one tokenizer; ``new_state()`` starts one answer."""

    @abstractmethod
    def new_state(self) -> GrammarState:
        """A fresh state at the start of the answer."""

    @property
    @abstractmethod
    def max_tokens(self) -> int:
        """Upper bound on the tokens of any complete answer (a safe ``max_new_tokens``)."""

    def accepts(self, token_ids: Sequence[int]) -> bool:
        """Whether ``token_ids`` is exactly one complete answer of this grammar."""
        state = self.new_state()
        try:
            for tok in token_ids:
                state.advance(int(tok))
        except GrammarError:
            return False
        return state.complete


class _IntThenTrie(GrammarState):
    """Shared machinery: alternate between trie choices and digit-by-digit integers."""

    def __init__(self, digit_ids: list[int]) -> None:
        self._digit_ids = digit_ids
        self._digit_of = {t: str(d) for d, t in enumerate(digit_ids)}
        self._node: _Node | None = None  # set while choosing among trie alternatives
        self._digits = ""  # set while reading an integer
        self._lo = self._hi = 0
        self._done = False

    @property
    def complete(self) -> bool:
        return self._done

    # Subclasses decide what follows a trie leaf and which trie follows an integer.
    @abstractmethod
    def _on_leaf(self, key: Hashable) -> None: ...

    @abstractmethod
    def _follow_trie(self, value: int) -> _Node: ...

    @abstractmethod
    def _on_int(self, value: int) -> None: ...

    def _start_int(self, lo: int, hi: int) -> None:
        self._node, self._digits, self._lo, self._hi = None, "", lo, hi

    def allowed_tokens(self) -> list[int]:
        if self._done:
            return []
        if self._node is not None:
            return list(self._node.children)
        allowed = [
            t
            for d, t in enumerate(self._digit_ids)
            if int_prefix_ok(self._digits + str(d), self._lo, self._hi)
        ]
        if self._digits and self._lo <= int(self._digits) <= self._hi:
            allowed += list(self._follow_trie(int(self._digits)).children)
        return allowed

    def advance(self, token_id: int) -> None:
        if self._done:
            raise GrammarError(f"token {token_id} after the end of the answer")
        if self._node is None:
            digit = self._digit_of.get(token_id)
            if digit is not None and int_prefix_ok(self._digits + digit, self._lo, self._hi):
                self._digits += digit
                return
            if not self._digits or not self._lo <= int(self._digits) <= self._hi:
                raise GrammarError(f"token {token_id} where a digit in {self._lo}..{self._hi} was expected")
            value = int(self._digits)
            trie = self._follow_trie(value)
            self._on_int(value)
            self._node = trie
        child = self._node.children.get(token_id)
        if child is None:
            raise GrammarError(f"token {token_id} not allowed; expected one of {sorted(self._node.children)}")
        self._node = child
        if child.value is not None:
            self._node = None
            self._on_leaf(child.value)


class MaskGrammar(Grammar):
    """Text4Seg mask answers: ``<seg>`` + G rows of G cells in row-wise RLE + ``\\n</seg>``.

    Args:
        tokenizer: The model's tokenizer (any that splits numbers into single digits).
        labels: Allowed labels; ``"others"`` is added first when missing.
        grid: Cells per row and rows per mask (G).
        open_tag: Text opening the mask.
        close_tag: Text closing the mask.
        run_sep: Between runs of a row.
        row_sep: Between rows.
        count_sep: Between a label and its run length.
        tail: After the last row, before ``close_tag``.
        context: Text the answer follows (the chat template's generation prompt ends with a newline).

    Raises:
        GrammarError: If the tokenizer cannot express the grammar at token boundaries.
        ValueError: If ``grid`` is not positive or a label is empty or contains a separator.
    """

    def __init__(
        self,
        tokenizer,
        labels: Sequence[str],
        grid: int = DEFAULT_GRID,
        *,
        open_tag: str = SEG_OPEN,
        close_tag: str = SEG_CLOSE,
        run_sep: str = RUN_SEP,
        row_sep: str = ROW_SEP,
        count_sep: str = " *",
        tail: str = "\n",
        context: str = "\n",
    ) -> None:
        if grid < 1:
            raise ValueError(f"grid must be positive, got {grid}")
        names = ["others"] + [str(x).strip() for x in labels if str(x).strip() != "others"]
        names = list(dict.fromkeys(names))
        for name in names:
            if not name or any(c in name for c in FORBIDDEN_LABEL_CHARS):
                raise ValueError(
                    f"label {name!r} is empty or contains a mask separator {FORBIDDEN_LABEL_CHARS!r}"
                )
        self.labels = names
        self.grid = grid
        self.text = {"open": open_tag, "close": close_tag, "run": run_sep, "row": row_sep, "count": count_sep}
        after_count = f"{open_tag}{names[0]}{count_sep}1"  # context ending in a digit
        self.digit_ids = digit_tokens(tokenizer, f"{open_tag}{names[0]}{count_sep}")
        self.open_trie = build_trie(
            {n: piece_tokens(tokenizer, context, open_tag + n + count_sep, "1") for n in names}
        )
        run_alts = {n: piece_tokens(tokenizer, after_count, run_sep + n + count_sep, "1") for n in names}
        self.row_trie = build_trie(
            {n: piece_tokens(tokenizer, after_count, row_sep + n + count_sep, "1") for n in names}
        )
        # Canonical RLE never repeats the previous run's label, so each label has its own run trie.
        self.run_tries = {
            prev: build_trie({n: ids for n, ids in run_alts.items() if n != prev})
            if len(names) > 1
            else _Node()
            for prev in names
        }
        self.end_trie = build_trie({_END: piece_tokens(tokenizer, after_count, tail + close_tag, "")})
        for trie in (self.open_trie, self.row_trie, self.end_trie, *self.run_tries.values()):
            if set(trie.children) & set(self.digit_ids):
                raise GrammarError("a separator starts with a digit token; digits would be ambiguous")
        widest = max(_trie_depth(self.row_trie), *(_trie_depth(t) for t in self.run_tries.values()))
        self._max_tokens = (
            _trie_depth(self.open_trie) + grid * grid * (widest + len(str(grid))) + _trie_depth(self.end_trie)
        )

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def new_state(self) -> MaskState:
        return MaskState(self)


class MaskState(_IntThenTrie):
    """Where an answer stands in a :class:`MaskGrammar`: row, cells filled, previous label."""

    def __init__(self, grammar: MaskGrammar) -> None:
        super().__init__(grammar.digit_ids)
        self.grammar = grammar
        self.row = 0
        self.col = 0
        self.prev: str | None = None
        self._node = grammar.open_trie

    def _on_leaf(self, key: Hashable) -> None:
        if key == _END:
            self._done = True
            return
        self.prev = str(key)
        left = self.grammar.grid - self.col
        # With a single label no other run can follow, so the run must fill the row.
        self._start_int(1 if self.grammar.run_tries[self.prev].children else left, left)

    def _follow_trie(self, value: int) -> _Node:
        g = self.grammar
        if self.col + value < g.grid:
            return g.run_tries[self.prev]
        return g.end_trie if self.row == g.grid - 1 else g.row_trie

    def _on_int(self, value: int) -> None:
        self.col += value
        if self.col == self.grammar.grid:
            self.row, self.col = self.row + 1, 0


class BoxGrammar(Grammar):
    """Box answers ``[x1, y1, x2, y2]`` with integers 0..100.

    Args:
        tokenizer: The model's tokenizer (numbers split into single digits).
        ordered: Require ``x1 <= x2`` and ``y1 <= y2`` (what ``normalize_box`` produces).
        context: Text the answer follows.
        max_value: Largest coordinate (100 for RSUniVLM's grid).

    Raises:
        GrammarError: If the tokenizer cannot express the grammar at token boundaries.
    """

    def __init__(self, tokenizer, *, ordered: bool = True, context: str = "\n", max_value: int = 100) -> None:
        self.ordered = ordered
        self.max_value = max_value
        self.digit_ids = digit_tokens(tokenizer, "[")
        if digit_tokens(tokenizer, "[1, ") != self.digit_ids:
            raise GrammarError("digit tokens differ between the first and later coordinates")
        self.open_trie = build_trie({"open": piece_tokens(tokenizer, context, "[", "1")})
        self.sep_trie = build_trie({"sep": piece_tokens(tokenizer, "[1", ", ", "1")})
        self.close_trie = build_trie({"close": piece_tokens(tokenizer, "[1, 2, 3, 4", "]", "")})
        self._max_tokens = 1 + 4 * len(str(max_value)) + 3 * _trie_depth(self.sep_trie) + 1

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def new_state(self) -> BoxState:
        return BoxState(self)


class BoxState(_IntThenTrie):
    """Where an answer stands in a :class:`BoxGrammar`: the coordinates read so far."""

    def __init__(self, grammar: BoxGrammar) -> None:
        super().__init__(grammar.digit_ids)
        self.grammar = grammar
        self.values: list[int] = []
        self._node = grammar.open_trie

    def _on_leaf(self, key: Hashable) -> None:
        if key == "close":
            self._done = True
            return
        lo = 0
        if self.grammar.ordered and len(self.values) >= 2:
            lo = self.values[len(self.values) - 2]  # x2 >= x1, y2 >= y1
        self._start_int(lo, self.grammar.max_value)

    def _follow_trie(self, value: int) -> _Node:
        return self.grammar.close_trie if len(self.values) == 3 else self.grammar.sep_trie

    def _on_int(self, value: int) -> None:
        self.values.append(value)


class MaskTokenGrammar(Grammar):
    """Answers of a model with a ``[SEG]``-token mask head: ``"Sure: G."``, ``"Sure: G and G."``, ...

    ``G`` is one instance's mask tokens ``[SEG0]`` .. ``[SEG{L*N-1}]`` in order, and the answer form is
    the training one (:func:`univlm.models.configuration_mask_head.mask_token_answer_text`). Every
    complete answer for 1..``max_groups`` instances is one path in a token trie, so each group is
    complete by construction, the only choice the model makes is how many instances there are, and the
    group's tokens are forced once it starts.

    Args:
        tokenizer: The model's tokenizer, holding the mask tokens as added tokens.
        num_mask_tokens: ``L * N``, tokens per instance.
        max_groups: Most instances in one answer.
        context: Text the answer follows.

    Raises:
        GrammarError: If ``max_groups < 1``, a mask token is not a single token, or one answer's tokens
            are a prefix of another's.
    """

    def __init__(self, tokenizer, num_mask_tokens: int, *, max_groups: int = 8, context: str = "\n") -> None:
        from univlm.models.configuration_mask_head import (  # pure module: no torch
            mask_token_answer_text,
            mask_token_names,
        )

        if max_groups < 1:
            raise GrammarError(f"max_groups must be >= 1, got {max_groups}")
        names = mask_token_names(num_mask_tokens)
        self.mask_token_ids = [tokenizer.convert_tokens_to_ids(name) for name in names]
        if any(t is None or t == tokenizer.unk_token_id for t in self.mask_token_ids):
            missing = [n for n, t in zip(names, self.mask_token_ids) if t is None or t == tokenizer.unk_token_id]
            raise GrammarError(f"tokenizer has no mask tokens {missing}; expected {names[0]}..{names[-1]}")
        self.max_groups = max_groups
        answers = {k: piece_tokens(tokenizer, context, mask_token_answer_text(k, num_mask_tokens), "")
                   for k in range(1, max_groups + 1)}  # fmt: skip
        for k, ids in answers.items():
            if sum(t in self.mask_token_ids for t in ids) != k * num_mask_tokens:
                raise GrammarError(f"the {k}-instance answer does not tokenize each mask token to one token")
        self.trie = build_trie(answers)
        self._max_tokens = max(len(ids) for ids in answers.values())

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def new_state(self) -> MaskTokenState:
        return MaskTokenState(self)


class MaskTokenState(GrammarState):
    """Where an answer stands in a :class:`MaskTokenGrammar`; ``groups`` is known once complete."""

    def __init__(self, grammar: MaskTokenGrammar) -> None:
        self._node: _Node = grammar.trie
        self.groups: int | None = None

    @property
    def complete(self) -> bool:
        return self.groups is not None

    def allowed_tokens(self) -> list[int]:
        return [] if self.complete else list(self._node.children)

    def advance(self, token_id: int) -> None:
        if self.complete:
            raise GrammarError(f"token {token_id} after the end of the answer")
        child = self._node.children.get(token_id)
        if child is None:
            raise GrammarError(f"token {token_id} not allowed; expected one of {sorted(self._node.children)}")
        self._node = child
        if child.value is not None:
            self.groups = int(child.value)
