"""``univlm predict`` through ``main(argv)`` on a tiny random checkpoint."""

from __future__ import annotations

import json

import pytest

from tests.inference._tiny import one_torch_thread
from univlm.cli import main as dispatch
from univlm.cli.predict import main

_threads = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


def test_json_output_schema_for_vg(model_dir, image_path, capsys):
    code = main(
        ["--model", model_dir, image_path, "--prompt", "[VG] the largest building", "--json", "--grid", "8"]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {
        "text",
        "prompt",
        "task",
        "expert",
        "expert_id",
        "image_size",
        "answer",
        "boxes",
        "boxes_px",
        "masks",
        "problems",
        "labels",
        "constrained",
        "stats",
    }
    assert data["task"] == "VG" and data["expert"] == "region" and data["constrained"] is True
    assert data["image_size"] == [80, 50] and len(data["boxes"]) == 1 and len(data["boxes_px"]) == 1
    x1, y1, x2, y2 = data["boxes"][0]
    assert data["boxes_px"][0] == pytest.approx([x1 * 0.8, y1 * 0.5, x2 * 0.8, y2 * 0.5], abs=0.01)


def test_seg_overlay_and_plain_output(model_dir, image_path, tmp_path, capsys):
    overlay = tmp_path / "out" / "overlay.png"
    code = dispatch(
        [
            "predict",
            "--model",
            model_dir,
            image_path,
            "--grid",
            "8",
            "--prompt",
            "[SEG] Can you segment the building in this image?",
            "--save-overlay",
            str(overlay),
        ]
    )
    assert code == 0
    out = capsys.readouterr()
    assert out.out.startswith("<seg>") and "mask 0: 8x8 cells" in out.out
    from PIL import Image

    with Image.open(overlay) as drawn:
        assert drawn.size[0] == 80 and drawn.size[1] > 50


def test_no_tag_prints_router_note_and_no_constrain(model_dir, image_path, capsys):
    code = main(
        ["--model", model_dir, image_path, "--prompt", "what is this?", "--max-new-tokens", "4", "--json"]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "no task tag" in captured.err and "'image'" in captured.err
    assert json.loads(captured.out)["expert"] == "image"
    main(
        [
            "--model",
            model_dir,
            image_path,
            "--prompt",
            "[VG] x",
            "--no-constrain",
            "--max-new-tokens",
            "3",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert data["constrained"] is False and data["stats"]["new_tokens"] <= 3


def test_usage_errors(model_dir, image_path, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--model", model_dir, str(tmp_path / "missing.png"), "--prompt", "[VG] x"])
    assert exc.value.code == 2 and "image not found" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "nope"), image_path, "--prompt", "[VG] x"]) == 1
    assert "cannot load model" in capsys.readouterr().err


def test_decode_speed_flags(model_dir, image_path, capsys):
    argv = ["--model", model_dir, image_path, "--prompt", "[VG] the largest building", "--json", "--grid", "8"]
    assert main([*argv, "--quantize", "int8", "--cache", "static"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["boxes"]) == 1 and data["constrained"] is True
    assert main([*argv, "--quantize", "int4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["boxes"]) == 1 and data["constrained"] is True
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--quantize", "int3"])
    assert exc.value.code == 2
