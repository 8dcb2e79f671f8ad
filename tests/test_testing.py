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


def test_fit_corpus_is_bounded():
    """Issue #15 §10: BPE fitting is quadratic in word length, so long runs are cut before fitting."""
    from univlm.testing import MAX_FIT_TEXT_CHARS, MAX_FIT_WORD_CHARS, bounded_fit_corpus

    word = "x" * (3 * MAX_FIT_WORD_CHARS + 5)
    (text,) = bounded_fit_corpus([f"a {word} b"])
    pieces = text.split()
    assert pieces[0] == "a" and pieces[-1] == "b" and "".join(pieces[1:-1]) == word
    assert max(len(p) for p in pieces) == MAX_FIT_WORD_CHARS
    assert bounded_fit_corpus(["short words stay"]) == ["short words stay"]
    (long_text,) = bounded_fit_corpus(["ab " * MAX_FIT_TEXT_CHARS])
    assert len(long_text) <= MAX_FIT_TEXT_CHARS


def test_tiny_tokenizer_fits_a_huge_answer_and_logs(caplog):
    import logging

    from univlm.testing import build_tiny_qwen2_tokenizer

    with caplog.at_level(logging.INFO, logger="univlm.testing"):
        tok = build_tiny_qwen2_tokenizer(vocab_size=300, extra_corpus=["building" * 100_000])
    assert tok.decode(tok("building *24|")["input_ids"]) == "building *24|"
    messages = [r.getMessage() for r in caplog.records]
    assert any("fitting a 300-token BPE" in m for m in messages) and any("fitted in" in m for m in messages)
