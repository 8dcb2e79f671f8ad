"""Tests for tokenizer_ext.extend: added tokens, chat template with generation markers, embedding growth."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from tokenizer_ext import (
    IMAGE_TOKEN,
    extend_tokenizer,
    load_chat_template,
    mask_tokens,
    resize_embeddings_for,
)
from univlm.models.router import TASK_TAGS


@pytest.fixture
def fresh_tokenizer(tiny_tokenizer_dir):
    """A private copy of the tiny tokenizer (extending mutates it; the session fixture must stay pristine)."""
    return AutoTokenizer.from_pretrained(tiny_tokenizer_dir)


def test_extend_adds_image_and_mask_tokens_and_is_idempotent(fresh_tokenizer):
    base = len(fresh_tokenizer)
    extend_tokenizer(fresh_tokenizer)
    assert len(fresh_tokenizer) == base + 1 + 6
    vocab = fresh_tokenizer.get_vocab()
    assert IMAGE_TOKEN in vocab and all(t in vocab for t in mask_tokens(6))
    snapshot = dict(fresh_tokenizer.get_vocab())
    extend_tokenizer(fresh_tokenizer)
    assert fresh_tokenizer.get_vocab() == snapshot


def test_image_token_is_single_special_token(fresh_tokenizer):
    extend_tokenizer(fresh_tokenizer)
    image_id = fresh_tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    ids = fresh_tokenizer("<image>\n[VG] x<image><image>", add_special_tokens=False)["input_ids"]
    assert ids.count(image_id) == 3
    assert IMAGE_TOKEN not in fresh_tokenizer.decode(ids, skip_special_tokens=True)


def test_tags_are_plain_text_by_default_and_seg_differs_from_seg0(fresh_tokenizer):
    extend_tokenizer(fresh_tokenizer)
    vocab = fresh_tokenizer.get_vocab()
    assert not any(tag in vocab for tag in TASK_TAGS)
    seg0 = vocab["[SEG0]"]
    tag_ids = fresh_tokenizer("[SEG] road", add_special_tokens=False)["input_ids"]
    assert len(fresh_tokenizer.tokenize("[SEG]")) > 1
    assert seg0 not in tag_ids
    # The mask token survives decoding (it is not special); <seg> stays plain text.
    answer = fresh_tokenizer("<seg>[SEG0]</seg>", add_special_tokens=False)["input_ids"]
    assert seg0 in answer and "<seg>" not in vocab
    assert fresh_tokenizer.decode(answer, skip_special_tokens=True) == "<seg>[SEG0]</seg>"


def test_tags_as_special_gives_one_id_per_tag_distinct_from_mask_tokens(fresh_tokenizer):
    extend_tokenizer(fresh_tokenizer, tags_as_special=True, num_mask_tokens=2)
    vocab = fresh_tokenizer.get_vocab()
    for tag in TASK_TAGS:
        assert fresh_tokenizer(tag, add_special_tokens=False)["input_ids"] == [vocab[tag]]
    assert vocab["[SEG]"] != vocab["[SEG0]"]
    ids = fresh_tokenizer("[SEG][SEG0][SEG1]", add_special_tokens=False)["input_ids"]
    assert ids == [vocab["[SEG]"], vocab["[SEG0]"], vocab["[SEG1]"]]
    assert "[SEG2]" not in vocab


def test_negative_mask_token_count_is_rejected(fresh_tokenizer):
    with pytest.raises(ValueError, match="num_mask_tokens"):
        extend_tokenizer(fresh_tokenizer, num_mask_tokens=-1)


def _assistant_text(tokenizer, messages):
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    return tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])


def test_chat_template_marks_exactly_the_assistant_tokens(fresh_tokenizer):
    extend_tokenizer(fresh_tokenizer)
    messages = [
        {"role": "user", "content": "<image>\n[VG] the largest building"},
        {"role": "assistant", "content": "[12, 30, 45, 61]"},
        {"role": "user", "content": "[CAP] describe"},
        {"role": "assistant", "content": "a road"},
    ]
    assert _assistant_text(fresh_tokenizer, messages) == "[12, 30, 45, 61]<|im_end|>a road<|im_end|>"


def test_chat_template_renders_like_qwen2_and_accepts_trl_list_content(fresh_tokenizer, tiny_tokenizer):
    extend_tokenizer(fresh_tokenizer)
    as_string = [
        {"role": "user", "content": "<image>\n[CAP] describe"},
        {"role": "assistant", "content": "a road"},
    ]
    as_list = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "[CAP] describe"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a road"}]},
    ]
    ours = fresh_tokenizer.apply_chat_template(as_string, tokenize=False)
    assert ours == fresh_tokenizer.apply_chat_template(as_list, tokenize=False)
    # The stock Qwen2 template (tiny_tokenizer keeps it) renders the same text: only the markers differ.
    assert ours == tiny_tokenizer.apply_chat_template(as_string, tokenize=False)
    prompt = fresh_tokenizer.apply_chat_template(as_string[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n") and prompt.startswith("<|im_start|>system\n")
    custom = [{"role": "system", "content": "Be brief."}] + as_string
    assert fresh_tokenizer.apply_chat_template(custom, tokenize=False).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
    )
    assert fresh_tokenizer.chat_template == load_chat_template()


def _tiny_causal_lm(vocab_size: int, tie: bool):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=tie,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config)


@pytest.mark.parametrize("tie", [True, False])
def test_resize_grows_with_mean_rows(fresh_tokenizer, tie):
    base = len(fresh_tokenizer)
    model = _tiny_causal_lm(base, tie)
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    extend_tokenizer(fresh_tokenizer)
    assert resize_embeddings_for(model, fresh_tokenizer) is True
    new_in = model.get_input_embeddings().weight
    new_out = model.get_output_embeddings().weight
    assert new_in.shape[0] == len(fresh_tokenizer) == base + 7
    assert torch.equal(new_in[:base], old_in)
    torch.testing.assert_close(new_in[base:], old_in.mean(0, keepdim=True).expand(7, -1))
    torch.testing.assert_close(new_out[base:], old_out.mean(0, keepdim=True).expand(7, -1))
    assert (new_out.data_ptr() == new_in.data_ptr()) == tie
    assert model.config.vocab_size == len(fresh_tokenizer)
    assert model.config.image_token_id == fresh_tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)


def test_resize_never_shrinks(fresh_tokenizer):
    extend_tokenizer(fresh_tokenizer)
    rows = len(fresh_tokenizer) + 50  # like Qwen2-0.5B: more rows than tokens
    model = _tiny_causal_lm(rows, tie=True)
    before = model.get_input_embeddings().weight.detach().clone()
    assert resize_embeddings_for(model, fresh_tokenizer) is False
    assert torch.equal(model.get_input_embeddings().weight, before)
    assert model.config.vocab_size == rows
    assert model.config.image_token_id == fresh_tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)


def test_resize_requires_image_token(fresh_tokenizer):
    with pytest.raises(ValueError, match="extend_tokenizer"):
        resize_embeddings_for(_tiny_causal_lm(len(fresh_tokenizer), tie=True), fresh_tokenizer)


def test_resize_on_univlm_tiny_model(fresh_tokenizer):
    from univlm.models import UniVLMForConditionalGeneration
    from univlm.models.presets import get_preset

    config = get_preset("tiny")
    model = UniVLMForConditionalGeneration(config)
    rows = model.get_input_embeddings().weight.shape[0]
    extend_tokenizer(fresh_tokenizer)
    assert len(fresh_tokenizer) < rows
    assert resize_embeddings_for(model, fresh_tokenizer) is False
    assert model.config.image_token_id == fresh_tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    # A tokenizer that outgrows the matrix makes it grow, in the language model and the LM head.
    fresh_tokenizer.add_tokens([f"tok{i}" for i in range(rows - len(fresh_tokenizer) + 3)])
    assert resize_embeddings_for(model, fresh_tokenizer) is True
    assert model.get_input_embeddings().weight.shape[0] == len(fresh_tokenizer) == rows + 3
    assert model.get_output_embeddings().weight.shape[0] == rows + 3
    assert model.config.text_config.vocab_size == rows + 3
