"""Seeded fuzz of the mask codec, COCO RLE and ``univlm decode-mask`` (issue #15).

Each probe runs a few hundred cases in a memory-limited subprocess (see ``conftest.py``) and must
show no crash (an exception other than the documented types), no hang and no silent loss.
``benchmarks/fuzz_codecs.py`` runs the same probes with 100k inputs.
"""

from __future__ import annotations

import contextlib
import io
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tests.fuzz.conftest import fuzz_loop, run_probes
from univlm.cli import decode_mask as decode_cli
from univlm.codecs import (
    MAX_GRID,
    MaskDecodeError,
    coco_rle_to_mask,
    decode_masks,
    encode_grid,
    encode_mask,
    mask_to_coco_rle,
)

LABELS = ["others", "building", "low vegetation", "İstanbul", "car park 2", "ß"]
ALPHABET = "others building road *|,.;:\n\r\t <seg></seg><SEG>0123456789x?İſKé\u2028\x85\x00"
TOKENS = ["*", "|", ", ", "\n", "\n ", "<seg>", "</seg>", "</SEG>", "0", "9", "99999999999999", " *", "others",
          "İ", "ſ", "\u2028", "\r\n", "\x85", "ß", "<seg>a*300", "a *1| " * 50, "x" * 300]  # fmt: skip
PROSE = ["", "The mask:", "İİİ", "Here is İstanbul.", "ſ K ß", "<image>", "[SEG] result", "ok."]
TRICKY_LABEL_CHARS = "aAİiıßsſK ,;.|*<>\n\t\r\x0b\x0c\x1c\x85\u2028\u00a0\u3000:!?0"


def _random_grid(rng: random.Random) -> list[list[str]]:
    size = rng.choice([1, 2, 3, 5, 16, 24, 32])
    labels = LABELS[: rng.randint(1, len(LABELS))]
    run = rng.randint(1, size)
    rows = []
    for _ in range(size):
        row: list[str] = []
        while len(row) < size:
            row += [rng.choice(labels)] * rng.randint(1, run)
        rows.append(row[:size])
    return rows


def _valid_text(rng: random.Random) -> str:
    grid = _random_grid(rng)
    text = encode_grid(grid, rle=len(grid[0]) == 1 or rng.random() < 0.8)
    if rng.random() < 0.2:
        text = text.replace("| ", ", ").replace(" *", "*")  # RSUniVLM's demo dialect
    return text


def _mutate(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 12)):
        op = rng.random()
        pos = rng.randrange(len(chars) + 1)
        if op < 0.3 and chars:
            del chars[pos : pos + rng.randint(1, 30)]
        elif op < 0.7:
            chars[pos:pos] = list(rng.choice(TOKENS))
        elif op < 0.8:
            span = chars[pos : pos + rng.randint(1, 200)]
            chars[pos:pos] = span * rng.randint(2, 20)
        elif op < 0.9 and chars:
            i = rng.randrange(len(chars))
            chars[i] = chars[i].upper() if rng.random() < 0.5 else chr(rng.randint(1, 0x2FFFF))
        else:
            chars = chars[: rng.randrange(len(chars) + 1)]
    return "".join(chars)


def _check_masks(masks: list[Any]) -> None:
    for mask in masks:
        g = mask.grid_size
        assert 1 <= g <= MAX_GRID and mask.indices.shape == (g, g)
        assert mask.labels[0] == "others"
        assert 0 <= mask.indices.min() and mask.indices.max() < len(mask.labels)


def _decode_any(text: str) -> bool:
    _check_masks(decode_masks(text))
    _check_masks(decode_masks(text, labels=["others", "building"]))
    try:
        _check_masks(decode_masks(text, strict=True))
    except MaskDecodeError as exc:
        assert str(exc)
    return True


# ----------------------------------------------------------------------------------------- probes


def _gen_random_text(rng: random.Random) -> str:
    return "".join(rng.choices(ALPHABET, k=rng.randint(0, 400)))


def _gen_mutated(rng: random.Random) -> str:
    return _mutate(_valid_text(rng), rng)


def _gen_rewrite(rng: random.Random) -> tuple[list[list[str]], str]:
    grid = _random_grid(rng)
    rle = len(grid[0]) == 1 or rng.random() < 0.8
    text = encode_grid(grid, rle=rle)
    if rng.random() < 0.3:
        text = text.replace("<seg>", rng.choice(["<SEG>", "<Seg>", "<seg>"])).replace("</seg>", "</SEG>")
    if rng.random() < 0.3:
        text = text.replace("\n", "\r\n")
    if rle and rng.random() < 0.3 and not any("," in name for row in grid for name in row):
        text = text.replace("| ", ", ").replace(" *", "*")
    if rng.random() < 0.3:
        text = text.replace(" *", "  *  ").replace("| ", " |  ")
    return grid, f"{rng.choice(PROSE)} {text} {rng.choice(PROSE)}"


def _check_rewrite(case: tuple[list[list[str]], str]) -> bool:
    grid, text = case
    masks = decode_masks(text)
    return len(masks) == 1 and masks[0].names() == grid and masks[0].repairs == []


def _random_label(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choices(TRICKY_LABEL_CHARS, k=rng.randint(1, 6)))
    code_points = [rng.randint(1, 0x2FFFF) for _ in range(rng.randint(1, 8))]
    return "".join(chr(c) for c in code_points if not 0xD800 <= c <= 0xDFFF) or "x"


def _gen_labels(rng: random.Random) -> tuple[list[list[str]], bool]:
    labels = [_random_label(rng) for _ in range(rng.randint(1, 4))]
    size = rng.randint(1, 6)
    return [[rng.choice(labels) for _ in range(size)] for _ in range(size)], rng.random() < 0.7


def _check_labels_round_trip(case: tuple[list[list[str]], bool]) -> bool:
    grid, rle = case
    try:
        text = encode_grid(grid, rle=rle)
    except ValueError:
        return True  # refused up front, naming the label (tests/codecs/test_text4seg.py checks the message)
    masks = decode_masks(text, strict=True)
    return len(masks) == 1 and masks[0].names() == grid


def _gen_rle(rng: random.Random) -> Any:
    sizes = [[rng.randint(0, 40), rng.randint(0, 40)], ["3", "2"], [3, True], [-1, 4], [2**40, 2**40], [3], None,
             [3000, 3000], [3.0, 2.0], [[1], [2]]]  # fmt: skip
    counts_choices = [
        [rng.randint(-5, 50) for _ in range(rng.randint(0, 12))],
        "".join(chr(rng.randint(40, 120)) for _ in range(rng.randint(0, 20))),
        bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 20))),
        [2**70],
        [9_000_000],
        None,
        {"a": 1},
    ]
    rle: dict[str, Any] = {"size": rng.choice(sizes), "counts": rng.choice(counts_choices)}
    if rng.random() < 0.1:
        rle.pop(rng.choice(["size", "counts"]))
    return rle if rng.random() < 0.95 else [rle]


def _check_rle(rle: Any) -> bool:
    try:
        mask = coco_rle_to_mask(rle)
    except ValueError:
        return True
    assert mask.dtype == bool and list(mask.shape) == [int(x) for x in rle["size"]]
    return True


def _gen_binary(rng: random.Random) -> np.ndarray:
    shape = (rng.randint(1, 64), rng.randint(1, 64))
    return np.random.default_rng(rng.randint(0, 2**32)).random(shape) < rng.random()


def _check_binary(binary: np.ndarray) -> bool:
    return all(
        np.array_equal(coco_rle_to_mask(mask_to_coco_rle(binary, compressed=c)), binary)
        for c in (True, False)
    )


def _gen_cli_bytes(rng: random.Random) -> tuple[bytes, list[str]]:
    text = _mutate(_valid_text(rng), rng) if rng.random() < 0.8 else _gen_random_text(rng)
    data = text.encode("utf-8", errors="surrogatepass")
    if rng.random() < 0.2:
        pos = rng.randrange(len(data) + 1)
        data = data[:pos] + bytes([rng.choice([0xFF, 0xC3, 0x80, 0xED])]) + data[pos:]
    flags = rng.choice([[], ["--size", "16x12"], ["--grid", "4"], ["--strict"], ["--format", "coco-json"]])
    return data, flags


def _check_cli(case: tuple[bytes, list[str]]) -> bool:
    data, flags = case
    with tempfile.TemporaryDirectory() as tmp:
        answer = Path(tmp) / "answer.txt"
        answer.write_bytes(data)
        out_dir = Path(tmp) / "out"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = decode_cli.main([str(answer), "-o", str(out_dir / "m.png"), *flags])
        assert code in (0, 1, 2), code
        written = sorted(out_dir.iterdir()) if out_dir.exists() else []
        if code != 0:
            assert written == [], "outputs must be all-or-nothing"
            assert len(err.getvalue().splitlines()) == 1 and "Traceback" not in err.getvalue()
        else:
            assert written and not any(p.name.startswith(".") for p in written)
    return True


PROBES: dict[str, tuple[Any, Any]] = {
    "mask decoder: random text": (_gen_random_text, _decode_any),
    "mask decoder: mutated answers": (_gen_mutated, _decode_any),
    "mask decoder: meaning-preserving rewrites": (_gen_rewrite, _check_rewrite),
    "mask encoder: Unicode labels round trip": (_gen_labels, _check_labels_round_trip),
    "COCO RLE reader: hostile dicts": (_gen_rle, _check_rle),
    "COCO RLE: random masks round trip": (_gen_binary, _check_binary),
    "decode-mask CLI: mutated bytes": (_gen_cli_bytes, _check_cli),
}
# Cases per probe in the test suite (the CLI writes files, so it gets fewer).
SUITE_CASES = {name: 80 if name.startswith("decode-mask") else 600 for name in PROBES}


def run_probe(name: str, seed: int, n: int, hang_s: float) -> dict[str, Any]:
    """Run ``n`` cases of probe ``name`` (the subprocess entry point)."""
    generate, check = PROBES[name]
    return fuzz_loop(name, generate, check, seed, n, hang_s)


def test_encode_of_valid_texts_is_exercised():
    # The generators themselves must produce decodable answers, or the probes test nothing.
    rng = random.Random(0)
    decoded = [decode_masks(_valid_text(rng)) for _ in range(50)]
    assert all(len(m) == 1 for m in decoded)
    assert encode_mask(np.eye(3, dtype=int), ["others", "x"], grid=3)


def test_probes_have_no_crash_hang_or_silent_loss():
    # One memory-limited subprocess runs every probe (interpreter start-up is paid once).
    results = run_probes("tests.fuzz.test_codecs_fuzz", list(PROBES), seed=20251203, n=SUITE_CASES)
    assert [r["probe"] for r in results] == list(PROBES)
    for stats in results:
        assert stats["inputs"] == SUITE_CASES[stats["probe"]]
        assert (stats["crashes"], stats["hangs"], stats["silent_losses"]) == (0, 0, 0), stats


def test_harness_counts_each_outcome():
    def check(case: int) -> bool:
        if case == 0:
            raise KeyError("undocumented")
        if case == 1:
            while True:  # interrupted by the time bound
                pass
        return case != 2

    stats = fuzz_loop("self-test", lambda rng: rng.randrange(4), check, seed=1, n=40, hang_s=0.05)
    assert stats["inputs"] == 40
    assert stats["crashes"] > 0 and stats["hangs"] > 0 and stats["silent_losses"] > 0
    assert stats["crashes"] + stats["hangs"] + stats["silent_losses"] < 40
