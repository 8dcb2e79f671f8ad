"""MaskTokenGrammar: whole [SEG0]..[SEG5] groups for models with a [SEG]-token mask head, and the Predictor's
choice of it for [SEG] prompts."""

from __future__ import annotations

import pytest
import torch

from tests.inference._tiny import one_torch_thread, tiny_image

_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)

HEAD = {"dim": 32, "num_heads": 2, "mlp_dim": 32, "decoder_depth": 1, "vision_layers": [-1, -2],
        "memory_classes": ["building", "water"], "memory_slots": 2, "memory_dim": 8, "memory_size": 4}  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizer_ext import extend_tokenizer
    from univlm.testing import build_tiny_qwen2_tokenizer

    tok = build_tiny_qwen2_tokenizer()
    extend_tokenizer(tok, num_mask_tokens=6, set_chat_template=False)
    return tok


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


G = "".join(f"[SEG{i}]" for i in range(6))


@pytest.mark.parametrize("groups", [1, 2, 3, 4])
def test_accepts_the_training_answers(tokenizer, groups):
    from univlm.inference.grammars import MaskTokenGrammar
    from univlm.models.configuration_mask_head import mask_token_answer_text

    grammar = MaskTokenGrammar(tokenizer, 6, max_groups=4)
    answer = _ids(tokenizer, mask_token_answer_text(groups, 6))
    assert grammar.accepts(answer)
    state = grammar.new_state()
    for tok in answer:
        state.advance(tok)
    assert state.groups == groups and state.allowed_tokens() == []
    assert len(answer) <= grammar.max_tokens


@pytest.mark.parametrize(
    "text",
    [
        f"Sure: {G[:-6]}.",  # a group missing its last token
        f"Sure: {G} and {G}",  # no end
        f"Sure: [SEG1][SEG0]{G[12:]}.",  # out of order
        f"Sure: {G}, {G}.",  # a list must end with "and G"
        f"Sure: {G}, {G}, {G}, {G} and {G}.",  # more than max_groups
        "Sure: <seg>others *24\n</seg>",
    ],
)
def test_rejects_incomplete_or_foreign_answers(tokenizer, text):
    from univlm.inference.grammars import MaskTokenGrammar

    assert not MaskTokenGrammar(tokenizer, 6, max_groups=4).accepts(_ids(tokenizer, text))


def test_a_started_group_is_forced_to_completion(tokenizer):
    from univlm.inference.grammars import MaskTokenGrammar

    grammar = MaskTokenGrammar(tokenizer, 6, max_groups=3)
    state = grammar.new_state()
    forced = state.forced_tokens()  # "Sure: " and the whole first group: there is no other way to start
    assert tokenizer.decode(forced, skip_special_tokens=False).replace(" ", "") == f"Sure:{G}"
    assert len(state.allowed_tokens()) == 3  # ".", ", " and " and " (first tokens of each)
    and_ = _ids(tokenizer, f"Sure: {G} and {G}.")[len(forced)]
    state.advance(and_)
    rest = state.forced_tokens()
    assert state.complete and state.groups == 2
    assert tokenizer.decode(forced + [and_] + rest, skip_special_tokens=False) == f"Sure: {G} and {G}."


def test_tokenizer_without_mask_tokens_is_a_grammar_error():
    from univlm.inference.grammars import GrammarError, MaskTokenGrammar
    from univlm.testing import build_tiny_qwen2_tokenizer

    with pytest.raises(GrammarError, match="no mask tokens"):
        MaskTokenGrammar(build_tiny_qwen2_tokenizer(), 6)


@pytest.fixture(scope="module")
def head_predictor():
    from tokenizer_ext import resize_embeddings_for
    from univlm.inference import Predictor
    from univlm.models import UniVLMForConditionalGeneration, UniVLMProcessor, get_preset
    from univlm.models.mask_head import add_mask_head
    from univlm.testing import build_tiny_qwen2_tokenizer

    processor = UniVLMProcessor.from_tokenizer(build_tiny_qwen2_tokenizer(), image_size=64, patch_size=8)
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(get_preset("tiny"))
    resize_embeddings_for(model, processor.tokenizer)
    add_mask_head(model, processor.tokenizer, HEAD)
    return Predictor(model.eval(), processor)


def test_predictor_constrains_head_models_to_whole_groups(head_predictor):
    from univlm.inference.grammars import BoxGrammar, MaskGrammar, MaskTokenGrammar

    assert isinstance(head_predictor.grammar_for("SEG", ["building"]), MaskTokenGrammar)
    assert isinstance(head_predictor.grammar_for("VG", None), BoxGrammar)
    assert isinstance(head_predictor.grammar_for("SEG", ["building"], num_images=2), MaskGrammar)  # pairs: text
    result = head_predictor.predict(tiny_image(80, 50), "[SEG] segment the buildings")
    assert result.constrained and result.stats["complete"]
    groups = head_predictor.grammar_for("SEG", None)
    assert 1 <= len(result.head_masks) <= groups.max_groups
    assert all(m.shape == (50, 80) for m in result.head_masks) and result.mask_decoder == "head"
    assert not any("outside a complete" in p for p in result.problems)


def test_models_without_a_head_keep_the_text_mask_grammar(tmp_path):
    from tests.inference._tiny import save_tiny_univlm
    from univlm.inference import Predictor
    from univlm.inference.grammars import MaskGrammar

    predictor = Predictor.from_pretrained(save_tiny_univlm(tmp_path))
    assert isinstance(predictor.grammar_for("SEG", ["building"]), MaskGrammar)


def test_predict_batch_and_predict_many_fill_head_masks(head_predictor):
    image = tiny_image(80, 50, seed=3)
    prompts = ["[SEG] segment the buildings", "[VG] the building", "[SEG] segment the water"]
    single = [head_predictor.predict(image, p) for p in prompts]
    batched = head_predictor.predict_batch([(image, p) for p in prompts], batch_size=3)
    many = head_predictor.predict_many(image, prompts)
    one_by_one = head_predictor.predict_many(image, prompts, batch_decode=False)
    for results in (batched, many, one_by_one):
        for got, want in zip(results, single, strict=True):
            assert got.text == want.text and got.mask_decoder == want.mask_decoder
            assert len(got.head_masks) == len(want.head_masks)
            for a, b in zip(got.head_masks, want.head_masks, strict=True):
                assert a.shape == (50, 80) and (a == b).mean() > 0.99
    assert single[0].head_masks and single[2].head_masks and not single[1].head_masks
