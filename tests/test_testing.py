from univlm.testing import build_tiny_qwen2_tokenizer


def test_tiny_tokenizer_has_qwen2_layout(tiny_tokenizer):
    ids = tiny_tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    n = len(tiny_tokenizer)
    assert ids == [n - 3, n - 2, n - 1]
    assert tiny_tokenizer.pad_token == "<|endoftext|>"
    assert tiny_tokenizer.eos_token == "<|im_end|>"


def test_tiny_tokenizer_round_trips_mask_text(tiny_tokenizer):
    text = "<seg>others *24\n others *7| building *10| others *7\n</seg>"
    assert tiny_tokenizer.decode(tiny_tokenizer(text).input_ids) == text


def test_tiny_tokenizer_is_deterministic(tiny_tokenizer):
    again = build_tiny_qwen2_tokenizer()
    text = "[VG] the largest building in the upper left"
    assert again(text).input_ids == tiny_tokenizer(text).input_ids


def test_chat_template_is_qwen2(tiny_tokenizer):
    text = tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
