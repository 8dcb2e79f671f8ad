"""Fuzz: 10k seeded random and mutated strings never crash the lenient mask decoder."""

from __future__ import annotations

import random

import numpy as np

from univlm.codecs.masks import MAX_GRID, MaskDecodeError, decode_masks, encode_mask

ALPHABET = "others building road *|,.\n <seg></seg>0123456789x?"
MUTATIONS = ["*", "|", ", ", "\n", "\n ", "<seg>", "</seg>", "0", "9", "99999999999999", " *", "", "others", "é"]


def _valid_texts(rng: np.random.Generator) -> list[str]:
    texts = []
    for grid in (16, 24, 32):
        for k in range(3):
            mask = np.zeros((96, 96), dtype=np.int64)
            for label in (1, 2):
                y, x = rng.integers(0, 80, size=2)
                h, w = rng.integers(8, 40, size=2)
                mask[y : y + h, x : x + w] = label
            text = encode_mask(mask, ["others", "building", "low vegetation"], grid=grid)
            texts.append(text.replace("| ", ", ").replace(" *", "*") if k == 2 else text)
    return texts


def _mutate(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 12)):
        op = rng.random()
        pos = rng.randrange(len(chars) + 1)
        if op < 0.4 and chars:
            del chars[pos : pos + rng.randint(1, 30)]
        elif op < 0.8:
            chars[pos:pos] = list(rng.choice(MUTATIONS))
        else:
            cut = rng.randrange(len(chars) + 1)
            chars = chars[:cut]
    return "".join(chars)


def _check(masks) -> None:
    for mask in masks:
        g = mask.grid_size
        assert 1 <= g <= MAX_GRID
        assert mask.indices.shape == (g, g)
        assert mask.labels[0] == "others"
        assert mask.indices.min() >= 0 and mask.indices.max() < len(mask.labels)


def test_fuzz_lenient_decoder_never_crashes():
    rng = random.Random(1234)
    valid = _valid_texts(np.random.default_rng(1234))
    decoded = 0
    for i in range(10_000):
        if i % 2:
            text = "".join(rng.choices(ALPHABET, k=rng.randint(0, 160)))
        else:
            text = _mutate(rng.choice(valid), rng)
        labels = ["others", "building"] if i % 5 == 0 else None
        masks = decode_masks(text, labels=labels)
        _check(masks)
        decoded += len(masks)
        if i % 10 == 0:
            try:
                _check(decode_masks(text, strict=True))
            except MaskDecodeError as exc:
                assert str(exc)
    assert decoded > 5_000  # the mutated valid strings mostly still hold a mask
