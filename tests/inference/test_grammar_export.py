"""The exported mask and box grammars: compiled by XGrammar, they accept exactly univlm's answers."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.inference._mask_check import validate_mask_text
from univlm.codecs import encode_grid, format_box, parse_boxes
from univlm.inference.grammar_export import box_ebnf, box_regex, mask_ebnf, mask_labels, mask_regex
from univlm.inference.grammars import BoxGrammar, MaskGrammar

xgr = pytest.importorskip("xgrammar", reason="xgrammar is in the test extra; serving engines use it")
from xgrammar.testing import _is_grammar_accept_string as accepts  # noqa: E402

LABELS = ["building", "low vegetation", 'say "hi"']


def _mask_text(grid: np.ndarray, names: list[str]) -> str:
    return encode_grid([[names[v] for v in row] for row in grid.tolist()])


@pytest.fixture(scope="module")
def mask_grammar_8():
    return xgr.Grammar.from_ebnf(mask_ebnf(LABELS, 8))


@pytest.fixture(scope="module")
def box_grammar():
    return xgr.Grammar.from_ebnf(box_ebnf())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=64, max_size=64))
def test_every_encoder_output_is_accepted(mask_grammar_8, cells):
    grid = np.array(cells).reshape(8, 8)  # (G, G)
    text = _mask_text(grid, mask_labels(LABELS))
    assert accepts(mask_grammar_8, text)
    assert re.fullmatch(mask_regex(LABELS, 8), text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=64, max_size=64), st.integers(0, 10_000), st.sampled_from("0129 *|\nxb"))
def test_mutations_accepted_iff_univlm_finds_no_problem(mask_grammar_8, cells, where, char):
    text = _mask_text(np.array(cells).reshape(8, 8), mask_labels(LABELS))
    pos = where % len(text)
    for mutated in (text[:pos] + char + text[pos:], text[:pos] + text[pos + 1 :], text[:pos] + char + text[pos + 1 :]):
        body_ok = not validate_mask_text(mutated, LABELS, 8) and mutated.endswith("\n</seg>")
        # validate_mask_text does not forbid a run repeating its neighbour's label; canonical R-RLE does.
        if body_ok and re.search(r"(?:^|\| |<seg>|\n )([^|*\n<>]+) \*\d+\| \1 \*", mutated):
            body_ok = False
        assert accepts(mask_grammar_8, mutated) == body_ok, repr(mutated)


def test_box_grammar_exact_on_order_and_range(box_grammar):
    g = box_grammar
    assert accepts(g, "[0, 0, 100, 100]") and accepts(g, "[7, 3, 7, 3]")
    for bad in ("[5, 0, 4, 9]", "[0, 5, 9, 4]", "[0, 0, 101, 1]", "[01, 0, 1, 1]", "[0,0,1,1]", "[0, 0, 1]"):
        assert not accepts(g, bad), bad
    assert accepts(xgr.Grammar.from_ebnf(box_ebnf(ordered=False)), "[5, 0, 4, 9]")
    assert re.fullmatch(box_regex(), "[0, 9, 100, 42]") and not re.fullmatch(box_regex(), "[0, 9, 101, 42]")


@settings(max_examples=8, deadline=None)  # each check builds a matcher (~0.3 s); edges are in the test above
@given(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))
def test_every_formatted_box_is_accepted(box_grammar, a, b, c, d):
    box = (min(a, c), min(b, d), max(a, c), max(b, d))
    text = format_box(box)
    assert parse_boxes(text).boxes
    assert accepts(box_grammar, text)


def test_label_with_separator_is_refused():
    with pytest.raises(ValueError, match="separator"):
        mask_ebnf(["a|b"])


def _walk(tokenizer, grammar, state, text: str) -> int:
    """Feed ``text``'s tokens to univlm's state and XGrammar's matcher; compare allowed sets."""
    import torch

    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    compiled = xgr.GrammarCompiler(info).compile_grammar(grammar)
    matcher = xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)
    bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)
    choices = 0
    for tok in tokenizer.encode(text, add_special_tokens=False):
        allowed = state.allowed_tokens()
        matcher.fill_next_token_bitmask(bitmask)
        xg_allowed = set(torch.nonzero(xgr.testing.bitmask_to_bool_mask(bitmask, info.vocab_size)[0]).flatten().tolist())
        # univlm allows the canonical tokenisation only; XGrammar allows every tokenisation of the text.
        assert tok in allowed and set(allowed) <= xg_allowed, (tok, allowed)
        choices += len(allowed) > 1
        state.advance(tok)
        assert matcher.accept_token(tok)
    assert state.complete and matcher.is_completed()
    return choices


def test_token_masks_agree_with_univlm_grammar():
    from univlm.testing import build_tiny_qwen2_tokenizer

    tokenizer = build_tiny_qwen2_tokenizer()
    labels = ["building", "road"]
    grid = np.zeros((8, 8), dtype=int)
    grid[2:5, 1:7] = 1
    grid[6, :] = 2
    text = _mask_text(grid, mask_labels(labels))
    ours = MaskGrammar(tokenizer, labels, 8, context="")
    assert _walk(tokenizer, mask_ebnf(labels, 8), ours.new_state(), text) > 8
    box = BoxGrammar(tokenizer, context="")
    assert _walk(tokenizer, box_ebnf(), box.new_state(), format_box((3, 14, 59, 100))) >= 4
