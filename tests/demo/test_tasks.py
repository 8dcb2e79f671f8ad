"""``univlm.demo.tasks``: task picker prompts, model-directory choice, upload checks and mask merging."""

from __future__ import annotations

import numpy as np
import pytest

from univlm.codecs.masks import DecodedMask
from univlm.demo.tasks import (
    TASKS,
    TRAIN_HINT,
    DemoInputError,
    build_prompts,
    device_note,
    load_upload,
    merge_masks,
    resolve_model_dir,
)
from univlm.inference.prompts import labels_from_prompt
from univlm.inference.result import Result


def test_every_picker_task_builds_a_tagged_prompt():
    tags = {
        "scene class": "[CLS]", "question": "[VQA]", "caption": "[CAP]", "grounding": "[VG]",
        "region description": "[REF]", "segmentation": "[SEG]", "change caption": "[CCD]",
        "change detection": "[SEG]",
    }
    assert set(TASKS) == set(tags)
    for name, tag in tags.items():
        prompts = build_prompts(name, TASKS[name].default).splitlines()
        assert prompts and all(p.startswith(tag) for p in prompts), (name, prompts)
    assert {name for name, task in TASKS.items() if task.images == 2} == {"change caption", "change detection"}


def test_segmentation_builds_one_prompt_per_class_with_readable_labels():
    prompts = build_prompts("segmentation", "building, bare land ,road").splitlines()
    assert [labels_from_prompt(p) for p in prompts] == [
        ["others", "building"], ["others", "bare land"], ["others", "road"],
    ]
    assert labels_from_prompt(build_prompts("change detection", "building")) == ["others", "building"]


def test_region_description_takes_a_box_and_rejects_other_text():
    assert build_prompts("region description", "10, 20, 30, 40") == "[REF] [10, 20, 30, 40]"
    assert build_prompts("region description", "[1, 2, 3, 4]") == "[REF] [1, 2, 3, 4]"
    with pytest.raises(DemoInputError, match="x1, y1, x2, y2"):
        build_prompts("region description", "the big one")
    assert build_prompts("grounding", "   ") == ""
    with pytest.raises(DemoInputError, match="unknown task"):
        build_prompts("nope", "x")


def test_model_dir_defaults_to_outputs_stage1_or_says_how_to_train(tmp_path):
    with pytest.raises(DemoInputError) as err:
        resolve_model_dir(None, cwd=tmp_path)
    assert TRAIN_HINT in str(err.value) and "accelerate launch recipes/stage1_sft.py" in TRAIN_HINT
    (tmp_path / "outputs" / "stage1").mkdir(parents=True)
    assert resolve_model_dir(None, cwd=tmp_path) == tmp_path / "outputs" / "stage1"
    with pytest.raises(DemoInputError, match="not found"):
        resolve_model_dir(str(tmp_path / "missing"))


def test_bad_uploads_give_one_line_naming_the_file(tmp_path):
    from PIL import Image

    good = tmp_path / "scene.png"
    Image.new("RGB", (30, 20), (10, 200, 30)).save(good)
    assert load_upload(good, 10**6).size == (30, 20)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(DemoInputError) as err:
        load_upload(bad, 10**6)
    assert "notes.png" in str(err.value) and str(tmp_path) not in str(err.value)
    with pytest.raises(DemoInputError, match="over the upload limit"):
        load_upload(good, 10)
    with pytest.raises(DemoInputError, match="upload an image"):
        load_upload(None, 10)


def test_device_note_flags_the_cpu_fallback():
    assert "CPU" in device_note({"device": "cpu", "dtype": "float32"}, cuda_available=False)
    note = device_note({"device": "cuda:0", "dtype": "bfloat16"}, cuda_available=True)
    assert "cuda:0" in note and "bfloat16" in note and "CPU" not in note


def _seg_result(label: str, cells: np.ndarray) -> Result:
    mask = DecodedMask(indices=cells.astype(np.int64), labels=["others", label])
    return Result(text="", task="SEG", masks=[mask], mask_arrays=[mask.upsample(4, 4)])


def test_merge_masks_first_class_keeps_shared_pixels():
    left = np.array([[1, 1], [0, 0]])
    top_right = np.array([[0, 1], [0, 1]])
    merged, names, overlaps = merge_masks([_seg_result("building", left), _seg_result("road", top_right)], (4, 4))
    assert names == ["others", "building", "road"]
    assert merged.tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]]
    assert overlaps == 4
