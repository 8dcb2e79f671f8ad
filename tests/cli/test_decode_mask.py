"""``univlm decode-mask`` through ``main(argv)``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import univlm.cli.decode_mask as decode_cli
from univlm.cli.decode_mask import OVERLAY_ALPHA, main
from univlm.codecs import DEFAULT_MAX_MASKS, coco_rle_to_mask, decode_mask, encode_mask

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TWO_BLOCKS = (
    "First <seg>others *2| car *2\n others *4\n others *4\n others *4\n</seg> then <seg>road *4\n"
    + (" others *4\n" * 3)
    + "</seg>"
)


@pytest.fixture
def answer(tmp_path):
    path = tmp_path / "answer.txt"
    path.write_text(
        "The buildings:\n" + encode_mask(np.eye(4, dtype=int), ["others", "building"], grid=4) + "\nok"
    )
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("univlm decode-mask: error: ")
    assert "Traceback" not in err
    return lines[0]


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


@pytest.mark.parametrize("flag", ["-o", "--out", "--output"])
def test_out_flag_spellings(answer, tmp_path, flag, capsys):
    out = tmp_path / "m.npy"
    assert main([str(answer), flag, str(out)]) == 0
    assert np.load(out).shape == (4, 4)
    assert "--output" not in decode_cli._parser().format_help()  # the old spelling is a hidden alias


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


def test_quiet_and_json(answer, tmp_path, capsys):
    out = tmp_path / "mask.png"
    assert main([str(answer), "-o", str(out), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main([str(answer), "-o", str(out), "--json", "--size", "8x6"]) == 0
    report = json.loads(capsys.readouterr().out)
    (mask,) = report["masks"]
    assert mask["name"] == str(out) and mask["size"] == [6, 8] and mask["grid"] == 4
    assert mask["cells"] == {"others": 12, "building": 4} and mask["repairs"] == []
    assert report["files"] == [str(out), str(tmp_path / "mask.labels.json")]


def test_like_and_overlay(tmp_path, answer, capsys):
    from univlm.inference.overlay import colour_for

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


def test_exit_codes_and_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("I could not find any building.")
    assert main([str(empty)]) == 1
    assert "no mask found" in _one_error_line(capsys.readouterr().err)
    bad = tmp_path / "bad.txt"
    bad.write_text("<seg>others *2| car *1\n others *2\n</seg>")
    assert main([str(bad), "--grid", "2"]) == 0
    assert "row_truncated x1" in capsys.readouterr().out
    assert main([str(bad), "--grid", "2", "--strict"]) == 1
    err = _one_error_line(capsys.readouterr().err)
    assert "strict decoding failed" in err and "row 0" in err and "run 1" in err
    assert main([str(bad), "--labels", "others", "--grid", "2", "--strict"]) == 1
    capsys.readouterr()
    assert main([str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in _one_error_line(capsys.readouterr().err)
    for argv in (["--size", "0x5"], ["--format", "tiff"], ["--grid", "-3"], ["--bogus"]):
        assert main([str(bad), *argv]) == 2
        _one_error_line(capsys.readouterr().err)
    assert main(["--help"]) == 0
    assert "--max-pixels" in capsys.readouterr().out


# ------------------------------------------------ issue #15: hostile answers (original reproducers)


def test_huge_size_and_grid_are_usage_errors_not_memory_errors(answer, tmp_path, capsys):
    out = tmp_path / "m.png"
    assert main([str(answer), "--size", "100000x100000", "-o", str(out)]) == 2
    assert "--max-pixels" in _one_error_line(capsys.readouterr().err)
    assert main([str(answer), "--grid", "100000", "-o", str(out)]) == 2
    assert "--max-grid" in _one_error_line(capsys.readouterr().err)
    assert main([str(answer), "--size", "9" * 5000 + "x2"]) == 2
    _one_error_line(capsys.readouterr().err)
    assert _files(tmp_path) == ["answer.txt"]
    assert main([str(answer), "--size", "300x300", "--max-pixels", "100000", "-o", str(out)]) == 0


def test_many_tiny_blocks_write_a_bounded_number_of_files(tmp_path, capsys):
    # 1 MB of tiny blocks wrote 139,810 files.
    answer = tmp_path / "answer.txt"
    answer.write_text("<seg>a*1</seg>" * 75_000)
    out_dir = tmp_path / "out"
    assert main([str(answer), "-o", str(out_dir / "m.png"), "--json"]) == 0
    assert len(_files(out_dir)) == 2 * DEFAULT_MAX_MASKS  # masks and their sidecars
    last = json.loads(capsys.readouterr().out)["masks"][-1]
    assert any(r.startswith("masks_dropped") for r in last["repairs"])
    fresh = tmp_path / "fresh"
    assert main([str(answer), "-o", str(fresh / "m.png"), "--max-masks", "500", "--max-files", "100"]) == 2
    assert "--max-files" in _one_error_line(capsys.readouterr().err)
    assert not fresh.exists()


def test_invalid_utf8_on_stdin_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    good = encode_mask(np.eye(4, dtype=int), ["others", "building"], grid=4).encode()
    stdin = io.TextIOWrapper(io.BytesIO(good + b"\nthen\n<seg>a *4\xff\n</seg>"), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["-", "-o", str(tmp_path / "m.png")]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "<stdin>" in err and "line 7" in err and "invalid UTF-8" in err
    assert _files(tmp_path) == []
    bad_file = tmp_path / "bad.txt"
    bad_file.write_bytes(b"\xc3(")
    assert main([str(bad_file)]) == 2
    assert "line 1, byte 0" in _one_error_line(capsys.readouterr().err)


def test_outputs_are_all_or_nothing(tmp_path, capsys, monkeypatch):
    answer = tmp_path / "answer.txt"
    answer.write_text(TWO_BLOCKS)
    calls = []
    real = decode_cli.label_map_to_coco_rles

    def fail_second(label_map):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(label_map)

    monkeypatch.setattr(decode_cli, "label_map_to_coco_rles", fail_second)
    out_dir = tmp_path / "out"
    assert main([str(answer), "-o", str(out_dir / "m.json")]) == 1
    assert "none written" in _one_error_line(capsys.readouterr().err)
    assert _files(out_dir) == []  # the first file was staged, then removed; no temp file is left


def test_codec_commands_import_neither_torch_nor_transformers(tmp_path):
    script = f"""
        import sys
        import numpy as np
        from PIL import Image
        import univlm.codecs
        from univlm.cli import decode_mask, encode_mask
        Image.fromarray(np.eye(8, dtype=np.uint8)).save({str(tmp_path / "m.png")!r})
        assert encode_mask.main([{str(tmp_path / "m.png")!r}, "--label", "road", "-o", {str(tmp_path / "a.txt")!r}]) == 0
        assert decode_mask.main([{str(tmp_path / "a.txt")!r}, "--size", "64x64", "-o", {str(tmp_path / "d.png")!r}]) == 0
        print(sorted(m for m in ("torch", "transformers", "pycocotools") if m in sys.modules))
    """
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "d.png").is_file()
