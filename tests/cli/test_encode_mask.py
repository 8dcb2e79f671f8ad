"""``univlm encode-mask`` through ``main(argv)``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from univlm.cli.encode_mask import main
from univlm.codecs import decode_mask


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return str(path)


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("univlm encode-mask: error: "), err
    return lines[0]


def test_labels_index_pixel_values(tmp_path, capsys):
    mask = np.zeros((48, 48), dtype=np.uint8)
    mask[:24, 24:] = 1
    mask[40:, :] = 2
    path = _save(tmp_path / "m.png", mask)
    assert main([path, "--labels", "others,building,road", "--grid", "4"]) == 0
    out = capsys.readouterr().out
    assert out == ("<seg>others *2| building *2\n others *2| building *2\n others *4\n road *4\n</seg>\n")


def test_single_label_and_no_wrap(tmp_path, capsys):
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[:, :8] = 255
    path = _save(tmp_path / "m.png", mask)
    assert main([path, "--label", "water", "--grid", "16", "--no-wrap"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("water *8| others *8\n water *8| others *8\n")
    assert "<seg>" not in out
    assert decode_mask(out).counts() == {"others": 128, "water": 128}


def test_sidecar_labels_are_used(tmp_path, capsys):
    mask = np.array([[0, 1], [2, 2]], dtype=np.uint8)
    path = _save(tmp_path / "m.png", mask)
    (tmp_path / "m.labels.json").write_text(json.dumps(["others", "a", "b"]))
    assert main([path, "--grid", "2"]) == 0
    assert capsys.readouterr().out == "<seg>others *1| a *1\n b *2\n</seg>\n"


def test_out_writes_the_text_to_a_file(tmp_path, capsys):
    path = _save(tmp_path / "m.png", np.eye(4, dtype=np.uint8))
    out = tmp_path / "answer.txt"
    assert main([path, "--label", "road", "--grid", "4", "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert decode_mask(out.read_text(), strict=True).counts() == {"others": 12, "road": 4}


def test_errors_are_one_line_usage_errors(tmp_path, capsys):
    mask = np.array([[0, 3]], dtype=np.uint8)
    path = _save(tmp_path / "m.png", mask)
    assert main([path, "--labels", "others,a"]) == 2
    assert "mask value" in _one_error_line(capsys.readouterr().err)
    assert main([path]) == 2
    assert "--label" in _one_error_line(capsys.readouterr().err)
    rgb = _save(tmp_path / "rgb.png", np.zeros((4, 4, 3), dtype=np.uint8))
    assert main([rgb, "--label", "x"]) == 2
    assert "single-channel" in _one_error_line(capsys.readouterr().err)
    assert main([str(tmp_path / "missing.png"), "--label", "x"]) == 2
    assert "cannot read" in _one_error_line(capsys.readouterr().err)
    for argv in (["--grid", "0"], ["--grid", "100000"], ["--bogus"]):
        assert main([path, "--label", "x", *argv]) == 2
        _one_error_line(capsys.readouterr().err)
    assert main(["--help"]) == 0


@pytest.mark.parametrize("label", ["Others", "x,", "a  b", "a\u2028b"])
def test_labels_that_would_not_round_trip_are_refused_by_name(tmp_path, capsys, label):
    path = _save(tmp_path / "m.png", np.eye(4, dtype=np.uint8))
    assert main([path, "--label", label, "--grid", "4"]) == 2
    assert repr(label) in _one_error_line(capsys.readouterr().err)
