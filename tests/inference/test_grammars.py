"""Grammar-constrained decoding on a random tiny Qwen2 LM with the tiny Qwen2-style tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.inference._mask_check import validate_mask_text
from tests.inference._tiny import one_torch_thread
from univlm.codecs.boxes import parse_boxes
from univlm.codecs.masks import MaskDecodeError, decode_masks, encode_grid, encode_mask
from univlm.inference.decoding import constrained_decode
from univlm.inference.grammars import BoxGrammar, GrammarError, MaskGrammar, int_prefix_ok, piece_tokens
from univlm.inference.logits_processor import GrammarLogitsProcessor

LABELS = ["building", "bare land", "road"]
_threads = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


@pytest.fixture(scope="module")
def lm(tiny_tokenizer):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    )
    return Qwen2ForCausalLM(config).eval()


@pytest.fixture(scope="module")
def prompt_ids(tiny_tokenizer):
    text = (
        "<|im_start|>user\n[SEG] Can you segment the building in this image?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    return torch.tensor([tiny_tokenizer(text)["input_ids"]])


@pytest.fixture(scope="module")
def grammar8(tiny_tokenizer):
    return MaskGrammar(tiny_tokenizer, LABELS, grid=8)


def _strictly_valid(text: str, labels: list[str], grid: int) -> bool:
    try:
        masks = decode_masks(text, grid=grid, labels=["others", *labels], strict=True)
    except MaskDecodeError:
        return False
    return len(masks) == 1 and not validate_mask_text(text, labels, grid)


def _brute_prefix_ok(digits: str, lo: int, hi: int) -> bool:
    return any(str(v).startswith(digits) for v in range(lo, hi + 1))


@given(st.text(alphabet="0123456789", min_size=1, max_size=4), st.integers(0, 120), st.integers(0, 120))
def test_int_prefix_matches_brute_force(digits, lo, hi):
    assert int_prefix_ok(digits, lo, hi) == _brute_prefix_ok(digits, lo, hi)


@given(st.data())
def test_encoded_masks_are_accepted_token_by_token(tiny_tokenizer, grammar8, data):
    values = data.draw(st.lists(st.integers(0, 3), min_size=64, max_size=64))
    mask = np.array(values).reshape(8, 8)
    text = encode_mask(mask, ["others", *LABELS], grid=8)
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert grammar8.accepts(ids), text


def test_grammar_rejects_wrong_counts_labels_and_repeats(tiny_tokenizer, grammar8):
    rows = [["others"] * 8 for _ in range(8)]
    good = encode_grid(rows)
    assert grammar8.accepts(tiny_tokenizer(good, add_special_tokens=False)["input_ids"])
    bad = [
        good.replace("others *8", "others *7", 1),  # 7 cells in the first row
        good.replace("others *8", "water *8", 1),  # label outside the allowed set
        good.replace("others *8", "others *4| others *4", 1),  # non-canonical repeated label
        good.replace("\n</seg>", "\n others *8\n</seg>"),  # 9 rows
    ]
    for text in bad:
        assert not grammar8.accepts(tiny_tokenizer(text, add_special_tokens=False)["input_ids"]), text


def test_random_model_masks_valid_only_with_constraint(tiny_tokenizer, lm, prompt_ids, grammar8):
    eos = tiny_tokenizer.eos_token_id
    constrained, free = [], []
    for seed in range(20):
        out = constrained_decode(
            lm,
            prompt_ids,
            grammar=grammar8,
            max_new_tokens=grammar8.max_tokens,
            eos_token_id=eos,
            temperature=1.0,
            generator=torch.Generator().manual_seed(seed),
        )
        assert out.complete
        # Jump-forward: one forward pass per genuine choice, far fewer than tokens.
        assert out.forward_passes == out.sampled < len(out.token_ids)
        constrained.append(tiny_tokenizer.decode(out.token_ids))
    for seed in range(10):
        # 60 tokens would hold a valid 8x8 mask (about 40 tokens when every row is one run).
        out = constrained_decode(
            lm,
            prompt_ids,
            max_new_tokens=60,
            eos_token_id=eos,
            temperature=1.0,
            generator=torch.Generator().manual_seed(seed),
        )
        free.append(tiny_tokenizer.decode(out.token_ids))
    assert all(_strictly_valid(t, LABELS, 8) for t in constrained)
    assert sum(_strictly_valid(t, LABELS, 8) for t in free) < len(free) / 2
    used = {name for t in constrained for row in decode_masks(t, grid=8)[0].names() for name in row}
    assert used <= {"others", *LABELS} and len(used) > 1


def test_grid_24_mask_is_valid_greedy_and_sampled(tiny_tokenizer, lm, prompt_ids):
    grammar = MaskGrammar(tiny_tokenizer, ["building"], grid=24)
    for temperature in (0.0, 1.0):
        out = constrained_decode(
            lm,
            prompt_ids,
            grammar=grammar,
            max_new_tokens=grammar.max_tokens,
            eos_token_id=tiny_tokenizer.eos_token_id,
            temperature=temperature,
            generator=torch.Generator().manual_seed(3),
        )
        text = tiny_tokenizer.decode(out.token_ids)
        assert _strictly_valid(text, ["building"], 24), text
        assert decode_masks(text, grid=24)[0].indices.shape == (24, 24)


def test_jump_forward_changes_passes_not_tokens(tiny_tokenizer, lm, prompt_ids, grammar8):
    kwargs = dict(
        grammar=grammar8, max_new_tokens=grammar8.max_tokens, eos_token_id=tiny_tokenizer.eos_token_id
    )
    fast = constrained_decode(lm, prompt_ids, **kwargs)
    slow = constrained_decode(lm, prompt_ids, jump_forward=False, **kwargs)
    assert fast.token_ids == slow.token_ids
    assert fast.forward_passes == fast.sampled < slow.forward_passes < len(slow.token_ids)


def test_single_label_mask_fills_rows(tiny_tokenizer, lm, prompt_ids):
    grammar = MaskGrammar(tiny_tokenizer, [], grid=8)
    out = constrained_decode(
        lm,
        prompt_ids,
        grammar=grammar,
        max_new_tokens=grammar.max_tokens,
        eos_token_id=tiny_tokenizer.eos_token_id,
    )
    text = tiny_tokenizer.decode(out.token_ids)
    assert text == encode_grid([["others"] * 8 for _ in range(8)])
    assert out.sampled == 0 and out.forward_passes == 0  # the whole mask is forced: no model call at all


def test_box_constraint_gives_ordered_boxes(tiny_tokenizer, lm, prompt_ids):
    grammar = BoxGrammar(tiny_tokenizer)
    for seed in range(20):
        out = constrained_decode(
            lm,
            prompt_ids,
            grammar=grammar,
            max_new_tokens=grammar.max_tokens,
            eos_token_id=tiny_tokenizer.eos_token_id,
            temperature=1.5,
            generator=torch.Generator().manual_seed(seed),
        )
        text = tiny_tokenizer.decode(out.token_ids)
        parsed = parse_boxes(text)
        assert not parsed.problems and len(parsed.boxes) == 1, text
        x1, y1, x2, y2 = parsed.boxes[0].box
        assert text == f"[{x1}, {y1}, {x2}, {y2}]"
        assert 0 <= x1 <= x2 <= 100 and 0 <= y1 <= y2 <= 100


def test_box_grammar_accepts_and_rejects(tiny_tokenizer):
    grammar = BoxGrammar(tiny_tokenizer)

    def ids(text):
        return tiny_tokenizer(text, add_special_tokens=False)["input_ids"]

    assert grammar.accepts(ids("[0, 5, 100, 100]"))
    for text in ("[0, 5, 101, 100]", "[05, 5, 10, 10]", "[50, 5, 10, 10]", "[1, 2, 3]", "[1, 2, 3, 4, 5]"):
        assert not grammar.accepts(ids(text)), text
    assert BoxGrammar(tiny_tokenizer, ordered=False).accepts(ids("[50, 5, 10, 10]"))


def test_logits_processor_matches_custom_loop_in_batched_generate(tiny_tokenizer, lm, prompt_ids, grammar8):
    from transformers import LogitsProcessorList

    box = BoxGrammar(tiny_tokenizer)
    short = prompt_ids[:, 4:]
    pad = tiny_tokenizer.pad_token_id
    width = prompt_ids.shape[1]
    batch = torch.full((2, width), pad)
    batch[0] = prompt_ids[0]
    batch[1, width - short.shape[1] :] = short[0]  # left padding
    attention = (batch != pad).long()
    attention[0] = 1
    processor = GrammarLogitsProcessor([grammar8, box], tiny_tokenizer.eos_token_id)
    out = lm.generate(
        input_ids=batch,
        attention_mask=attention,
        logits_processor=LogitsProcessorList([processor]),
        max_new_tokens=grammar8.max_tokens,
        do_sample=False,
        eos_token_id=tiny_tokenizer.eos_token_id,
        pad_token_id=pad,
    )
    texts = tiny_tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    eos = tiny_tokenizer.eos_token_id
    mask = constrained_decode(
        lm, prompt_ids, grammar=grammar8, max_new_tokens=grammar8.max_tokens, eos_token_id=eos
    )
    assert texts[0] == tiny_tokenizer.decode(mask.token_ids)
    assert _strictly_valid(texts[0], LABELS, 8)
    assert len(parse_boxes(texts[1]).boxes) == 1 and not parse_boxes(texts[1]).problems


def test_misaligned_pieces_raise(tiny_tokenizer):
    with pytest.raises(GrammarError, match="merges"):
        piece_tokens(tiny_tokenizer, "ot", "hers", " *")
    with pytest.raises(ValueError, match="separator"):
        MaskGrammar(tiny_tokenizer, ["a|b"], grid=4)


def test_validate_mask_text_reports_problems():
    good = encode_grid([["others"] * 4 for _ in range(4)])
    assert validate_mask_text(good, [], 4) == []
    assert validate_mask_text(good.replace("others *4", "x *4", 1), ["y"], 4)
    assert validate_mask_text("no mask", None, 4) == ["answer is not wrapped in <seg>...</seg>"]


def test_budget_cut_reports_incomplete(tiny_tokenizer, lm, prompt_ids, grammar8):
    out = constrained_decode(
        lm, prompt_ids, grammar=grammar8, max_new_tokens=10, eos_token_id=tiny_tokenizer.eos_token_id
    )
    assert len(out.token_ids) == 10 and not out.complete
    none = constrained_decode(
        lm, prompt_ids, grammar=grammar8, max_new_tokens=0, eos_token_id=tiny_tokenizer.eos_token_id
    )
    assert none.token_ids == [] and none.forward_passes == 0


def test_logits_processor_enforces_per_row_budgets(tiny_tokenizer, lm, prompt_ids):
    from transformers import LogitsProcessorList

    eos = tiny_tokenizer.eos_token_id
    batch = prompt_ids.repeat(2, 1)
    processor = GrammarLogitsProcessor([None, None], eos, max_new_tokens=[3, 8])
    out = lm.generate(
        input_ids=batch,
        attention_mask=torch.ones_like(batch),
        logits_processor=LogitsProcessorList([processor]),
        max_new_tokens=8,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    new = out[:, batch.shape[1] :].tolist()
    assert new[0][3] == eos and eos not in new[1][:3]
