"""Helpers for tests and CPU demos that must never touch the model hub.

``build_tiny_qwen2_tokenizer`` trains a small byte-level BPE with Qwen2's pre-tokenizer and special
tokens in-process, so tests exercise the real ``Qwen2Tokenizer`` and ``from_pretrained`` paths
without downloading anything. Real token counts (benchmarks) use a real Qwen2 tokenizer instead.

Design choices:
- BPE training cost grows with the square of a word's length (every merge rescans the word), so a
  single 2 MB answer without spaces kept the default training silent for over ten minutes (issue
  #15 §10). The extra corpus is therefore bounded before fitting: runs without whitespace longer
  than :data:`MAX_FIT_WORD_CHARS` are cut into pieces of that length, and each text is truncated
  to :data:`MAX_FIT_TEXT_CHARS` and the whole corpus to :data:`MAX_FIT_CORPUS_CHARS`. The vocabulary
  only needs frequent pieces, which short words and the first characters of each text give.
  ``univlm data validate`` refuses such records in the first place (docs/DATA.md, "Limits").
- The fit logs its input size and its duration (``logging``, not a progress bar).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

# Bounds on the text the tiny BPE is fitted on (see the module docstring).
MAX_FIT_WORD_CHARS = 64
MAX_FIT_TEXT_CHARS = 20_000
MAX_FIT_CORPUS_CHARS = 4_000_000
_LONG_RUN = re.compile(rf"\S{{{MAX_FIT_WORD_CHARS + 1},}}")

# Qwen2's pre-tokenizer split pattern (from its tokenizer.json), so word/number splitting matches.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Words the tiny vocabulary should hold as whole tokens: task tags, mask syntax, RS class names.
_CORPUS_WORDS = (
    "others building road water tree vegetation vehicle bare land car house roof river lake "
    "residential industrial farmland waterfront forest parking the a an of in on to is are what how "
    "many there image images please segment describe changes between these two largest smallest "
    "left right upper lower top bottom center middle red blue green white gray this that with and "
    "category choose best from only output yes no can you respond mask segmentation area changed "
    "second first differences briefly region box caption answer question scene"
)


def _corpus() -> list[str]:
    words = _CORPUS_WORDS.split()
    lines = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    lines += [f"{w} *{n}| {w} *{24 - n}\n " for w in words[:12] for n in range(1, 24)]
    lines += ["[CLS] [VQA] [CAP] [VG] [REF] [SEG] [CCD] <image> <seg> </seg> [SEG0] [SEG1]"]
    lines += [f"[{a}, {b}, {c}, {d}]" for a, b, c, d in zip(range(0, 100, 3), range(5, 100, 3), range(50, 100), range(60, 100))]
    lines += ["You are a helpful assistant.", "system user assistant"]
    return lines * 3


def _split_run(match: re.Match[str]) -> str:
    run = match.group(0)
    return " ".join(run[i : i + MAX_FIT_WORD_CHARS] for i in range(0, len(run), MAX_FIT_WORD_CHARS))


def bounded_fit_corpus(texts: Iterable[str]) -> list[str]:
    """The texts the BPE is fitted on, with word, text and corpus lengths bounded (see module docstring).

    Args:
        texts: Raw extra corpus, e.g. a dataset's answers.

    Returns:
        The bounded texts, in order; texts past the corpus budget are left out (and counted in the log).
    """
    out: list[str] = []
    total = dropped = 0
    for text in texts:
        if total >= MAX_FIT_CORPUS_CHARS:
            dropped += 1
            continue
        text = _LONG_RUN.sub(_split_run, text[:MAX_FIT_TEXT_CHARS])
        total += len(text)
        out.append(text)
    if dropped:
        logger.info("tiny tokenizer: corpus budget of %d characters reached; %d texts left out",
                    MAX_FIT_CORPUS_CHARS, dropped)
    return out


def build_tiny_qwen2_tokenizer(
    save_dir: str | os.PathLike | None = None,
    vocab_size: int = 600,
    extra_corpus: list[str] | None = None,
):
    """Train a tiny Qwen2-style byte-level BPE tokenizer in-process.

    Args:
        save_dir: When given, the tokenizer is saved there with ``save_pretrained``.
        vocab_size: Size of the BPE vocabulary before the three Qwen2 special tokens.
        extra_corpus: More training text, e.g. a dataset's answers, for a vocabulary that fits it;
            bounded by :func:`bounded_fit_corpus` first.

    Returns:
        A ``transformers.Qwen2Tokenizer`` with ``<|endoftext|>`` as pad token, ``<|im_end|>`` as eos
        and Qwen2's chat template, laid out like Qwen2's (specials after the BPE vocabulary).
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import Qwen2Tokenizer

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    corpus = _corpus() + bounded_fit_corpus(extra_corpus or [])
    logger.info("tiny tokenizer: fitting a %d-token BPE on %d texts (%d characters)", vocab_size, len(corpus),
                sum(len(t) for t in corpus))
    start = time.perf_counter()
    tok.train_from_iterator(corpus, trainer=trainer)
    logger.info("tiny tokenizer: fitted in %.1f s", time.perf_counter() - start)
    # Qwen2 order: <|endoftext|>, <|im_start|>, <|im_end|> right after the BPE vocabulary.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN2_SPECIAL_TOKENS])
    tokenizer = Qwen2Tokenizer(
        tokenizer_object=tok,
        unk_token="<|endoftext|>",
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN2_SPECIAL_TOKENS[1:]),
    )
    tokenizer.chat_template = QWEN2_CHAT_TEMPLATE
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
    return tokenizer
