"""``univlm decode-mask`` through ``main(argv)``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from univlm.cli.decode_mask import OVERLAY_ALPHA, main
from univlm.codecs.masks import coco_rle_to_mask, decode_mask, encode_mask
from univlm.inference.overlay import colour_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TWO_BLOCKS = "First <seg>others *2| car *2\n others *4\n others *4\n others *4\n</seg> then <seg>road *4\n" + (
    " others *4\n" * 3
) + "</seg>"


@pytest.fixture
def answer(tmp_path):
    path = tmp_path / "answer.txt"
    path.write_text("The buildings:\n" + encode_mask(np.eye(4, dtype=int), ["others", "building"], grid=4) + "\nok")
    return path


def test_png_with_labels_sidecar(answer, tmp_path, capsys):
    out = tmp_path / "mask.png"
    assert main([str(answer), "--size", "8x6", "-o", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"{out}: grid 4x4 -> 8x6, cells: others=12 building=4, repairs: none"
    with Image.open(out) as img:
        assert img.size == (8, 6) and img.mode == "L"
        array = np.array(img)
    assert set(np.unique(array)) == {0, 1}
    assert json.loads((tmp_path / "mask.labels.json").read_text()) == ["others", "building"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_several_blocks_npy_from_stdin(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(TWO_BLOCKS))
    out = tmp_path / "m.npy"
    assert main(["-", "--size", "4x4", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "car=2" in lines[0] and "road=4" in lines[1]
    first, second = np.load(tmp_path / "m_0.npy"), np.load(tmp_path / "m_1.npy")
    assert first[0].tolist() == [0, 0, 1, 1] and second[0].tolist() == [1] * 4
    assert json.loads((tmp_path / "m_1.labels.json").read_text()) == ["others", "road"]


def test_coco_json(tmp_path, answer):
    out = tmp_path / "mask.json"
    assert main([str(answer), "--size", "8x8", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["size"] == [8, 8] and data["labels"] == ["others", "building"]
    (ann,) = data["annotations"]
    expected = np.kron(np.eye(4, dtype=bool), np.ones((2, 2), dtype=bool))
    np.testing.assert_array_equal(coco_rle_to_mask(ann["rle"]), expected)


def test_like_and_overlay(tmp_path, answer, capsys):
    image = tmp_path / "img.png"
    Image.fromarray(np.full((10, 12, 3), 200, dtype=np.uint8)).save(image)
    out = tmp_path / "mask.png"
    assert main([str(answer), "--like", str(image), "-o", str(out), "--overlay", str(image)]) == 0
    assert "-> 12x10" in capsys.readouterr().out
    with Image.open(tmp_path / "mask_overlay.png") as overlay:
        assert overlay.mode == "RGB" and overlay.width == 12 and overlay.height > 10  # legend strip
        pixels = np.array(overlay)
    assert not np.array_equal(pixels[0, 0], pixels[0, 11])  # (0, 0) is building, (0, 11) is not
    np.testing.assert_array_equal(pixels[0, 11], [200, 200, 200])
    # Same colours as ``univlm predict --save-overlay``: the shared palette, blended at OVERLAY_ALPHA.
    expected = (1 - OVERLAY_ALPHA) * 200 + OVERLAY_ALPHA * np.asarray(colour_for(1), dtype=np.float32)
    np.testing.assert_array_equal(pixels[0, 0], expected.astype(np.uint8))


def test_shipped_example(tmp_path, capsys):
    out = tmp_path / "mask.png"
    args = [str(EXAMPLES / "answer_seg.txt"), "--size", "256x256", "-o", str(out)]
    assert main([*args, "--overlay", str(EXAMPLES / "aerial.png")]) == 0
    assert "grid 24x24 -> 256x256" in capsys.readouterr().out
    text = (EXAMPLES / "answer_seg.txt").read_text()
    assert decode_mask(text, strict=True).labels == ["others", "building"]
    assert (tmp_path / "mask_overlay.png").is_file()


def test_no_mask_and_strict_failures(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("I could not find any building.")
    assert main([str(empty)]) == 1
    assert "no mask found" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("<seg>others *2| car *1\n others *2\n</seg>")
    assert main([str(bad), "--grid", "2"]) == 0
    assert "row_truncated x1" in capsys.readouterr().out
    assert main([str(bad), "--grid", "2", "--strict"]) == 1
    err = capsys.readouterr().err
    assert "strict decoding failed" in err and "row 0" in err and "run 1" in err
    assert main([str(bad), "--labels", "others", "--grid", "2", "--strict"]) == 1
    assert main([str(tmp_path / "missing.txt")]) == 1
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(bad), "--size", "0x5"])
