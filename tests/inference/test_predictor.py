"""Predictor end to end on a tiny random univlm checkpoint saved to disk and loaded back."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from tests.inference._mask_check import validate_mask_text
from tests.inference._tiny import one_torch_thread, save_tiny_univlm, tiny_image
from univlm.codecs.boxes import denormalize_box
from univlm.inference import Predictor, Result, labels_from_prompt
from univlm.inference.overlay import result_overlay

SEG = "[SEG] Can you segment the building in this image?"
VG = "[VG] the largest building"
_threads = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_univlm(tmp_path_factory.mktemp("tiny_univlm"))


@pytest.fixture(scope="module")
def predictor(model_dir):
    return Predictor.from_pretrained(model_dir, grid=8)


@pytest.fixture(scope="module")
def image():
    return tiny_image(80, 50)


def test_from_pretrained_defaults_to_cpu_float32(predictor):
    assert predictor.info()["device"] == "cpu" and predictor.info()["dtype"] == "float32"
    assert predictor.model.config.use_gmoe


def test_vg_returns_constrained_box_in_both_coordinate_systems(predictor, image):
    result = predictor.predict(image, VG)
    assert (result.task, result.expert, result.expert_id) == ("VG", "region", 1)
    assert result.constrained and result.stats["complete"]
    assert len(result.boxes) == 1 and not result.problems, result.text
    assert result.image_size == (80, 50)
    assert result.boxes_px[0] == pytest.approx(denormalize_box(result.boxes[0], 80, 50))
    assert result.answer == result.text.strip()


def test_seg_returns_valid_mask_at_original_size(predictor, image):
    result = predictor.predict(image, SEG)
    assert (result.task, result.expert) == ("SEG", "pixel")
    assert result.labels == ["others", "building"]
    assert validate_mask_text(result.text, ["building"], 8) == []
    assert len(result.masks) == 1 and result.masks[0].grid_size == 8 and not result.problems
    assert result.mask_arrays[0].shape == (50, 80)
    assert result.stats["forward_passes"] < result.stats["new_tokens"]


def test_no_constraint_and_no_tag(predictor, image, caplog):
    free = predictor.predict(image, SEG, constrained=False, max_new_tokens=12)
    assert not free.constrained and free.stats["new_tokens"] <= 12
    with caplog.at_level(logging.INFO, logger="univlm.inference.predictor"):
        result = predictor.predict(image, "what is in this picture?", max_new_tokens=5)
    assert result.task is None and result.expert == "image" and result.expert_id == 0
    assert "no task tag" in caplog.text


def test_routing_changes_the_answer(predictor, image):
    # The experts differ, so the same text under another tag's expert reads differently.
    tokens = predictor.tokenizer
    item = predictor._prepare(image, "[CAP] the largest building", None, None, False)
    inputs = predictor._inputs([item])
    import torch

    with torch.no_grad():
        a = predictor.model(**{**inputs, "expert_ids": torch.tensor([0])}).logits[0, -1]
        b = predictor.model(**{**inputs, "expert_ids": torch.tensor([1])}).logits[0, -1]
    assert not torch.allclose(a, b)
    assert tokens is predictor.processor.tokenizer


def test_predict_many_reuses_prefix_with_identical_outputs(predictor, image):
    short = Predictor(
        predictor.model, predictor.processor, grid=8, max_new_tokens=10
    )  # free answers: 10 tokens
    prompts = [SEG, VG, "[SEG] Can you segment the road in this image?", "[CAP] Describe this image briefly."]
    many = short.predict_many(image, prompts)
    separate = [short.predict(image, p) for p in prompts]
    assert [r.text for r in many] == [r.text for r in separate]
    assert [r.expert for r in many] == ["pixel", "region", "pixel", "image"]
    assert many[0].stats["shared_prefix_with"] == 2 and many[1].stats["shared_prefix_with"] == 1
    assert many[0].stats["prefix_tokens"] > 65  # the whole image block is in the shared prefix


def test_predict_many_sampling_matches_separate_calls(predictor, image):
    prompts = [SEG, "[SEG] Can you segment the road in this image?"]
    many = predictor.predict_many(image, prompts, temperature=1.0, seed=5)
    separate = [predictor.predict(image, p, temperature=1.0, seed=5 + k) for k, p in enumerate(prompts)]
    assert [r.text for r in many] == [r.text for r in separate]


def test_segment_classes_merges_one_label_map(predictor, image):
    merged = predictor.segment_classes(image, ["building", "road", "water"])
    assert merged.labels == ["others", "building", "road", "water"]
    assert merged.grid.shape == (8, 8) and merged.label_map.shape == (50, 80)
    assert set(np.unique(merged.grid)) <= {0, 1, 2, 3}
    for k, result in enumerate(merged.results):
        claimed = result.masks[0].binary()
        # Every cell a class claims is labelled with it or with an earlier class.
        assert np.all((merged.grid[claimed] >= 1) & (merged.grid[claimed] <= k + 1))
    json.dumps(merged.to_dict())


def test_predict_batch_matches_single_predictions(predictor, image):
    other = tiny_image(40, 60, seed=1)
    short = Predictor(
        predictor.model, predictor.processor, grid=8, max_new_tokens=10
    )  # free answers: 10 tokens
    items = [(image, SEG), (other, VG), ([image, other], "[CCD] What changed?")]
    batch = short.predict_batch(items)
    single = [short.predict(im, p) for im, p in items]
    assert [r.text for r in batch] == [r.text for r in single]
    assert batch[2].stats["new_tokens"] <= 10
    assert batch[1].image_size == (40, 60) and len(batch[1].boxes_px) == 1
    assert batch[2].expert == "image" and batch[2].task == "CCD"


def test_predict_batch_groups_by_expert_and_keeps_input_order(predictor, image):
    other = tiny_image(40, 60, seed=1)
    short = Predictor(predictor.model, predictor.processor, grid=8, max_new_tokens=6)
    # Interleaved experts: pixel, image, region, image, pixel, region.
    items = [(image, SEG), (image, "[CAP] Describe."), (other, VG), (other, "[CLS] Class?"), (other, SEG), (image, VG)]
    grouped = short.predict_batch(items, batch_size=2)
    assert [r.expert for r in grouped] == ["pixel", "image", "region", "image", "pixel", "region"]
    assert all(len(r.stats["batch_experts"]) == 1 for r in grouped), [r.stats for r in grouped]
    mixed = short.predict_batch(items, batch_size=2, group_by_expert=False)
    assert any(len(r.stats["batch_experts"]) > 1 for r in mixed)
    assert [r.text for r in grouped] == [r.text for r in mixed]


def test_predict_many_batched_decode_equals_one_by_one(predictor, image):
    prompts = [
        "[SEG] Please segment the building in this image.",
        "[SEG] Please segment the road in this image.",
        "[SEG] Please segment the water in this image.",
        VG,
        "[VG] the small road",
    ]
    batched = predictor.predict_many(image, prompts)
    serial = predictor.predict_many(image, prompts, batch_decode=False)
    single = [predictor.predict(image, p) for p in prompts]
    assert [r.text for r in batched] == [r.text for r in serial] == [r.text for r in single]
    assert [r.stats["decoded_as_batch_of"] for r in batched] == [3, 3, 3, 2, 2]
    assert all(r.stats["complete"] and r.masks for r in batched[:3])
    # Rows decode together: the batch as a whole takes far fewer passes than the rows one by one.
    assert max(r.stats["forward_passes"] for r in batched[:3]) < sum(r.stats["forward_passes"] for r in serial[:3])


def test_chat_history_routes_by_current_turn(predictor, image):
    first = predictor.predict(image, VG)
    follow = predictor.predict(image, SEG, history=[(VG, first.text)])
    assert follow.expert == "pixel" and follow.masks


def test_result_to_dict_is_json_and_overlay_draws(predictor, image):
    seg = predictor.predict(image, SEG)
    data = json.loads(json.dumps(seg.to_dict()))
    assert set(data) >= {"text", "task", "expert", "boxes", "boxes_px", "masks", "answer", "problems"}
    assert np.array(data["masks"][0]["indices"]).shape == (8, 8)
    vg = predictor.predict(image, VG)
    drawn = result_overlay(image, vg)
    assert drawn.size[0] == 80 and drawn.size[1] > 50  # legend strip below the image
    assert isinstance(seg, Result)


def test_labels_from_prompt_reads_templates():
    assert labels_from_prompt(SEG) == ["others", "building"]
    assert labels_from_prompt(
        "[SEG] Please segment the red car, the big house and the river in this image."
    ) == [
        "others",
        "red car",
        "big house",
        "river",
    ]
    assert labels_from_prompt("<image>\n[SEG] bare land?") == ["others", "bare land"]
    change = "[SEG] Please segment the building area in the images that have changed in the second image."
    assert labels_from_prompt(change) == ["others", "building"]


def test_static_cache_gives_identical_answers(predictor, image):
    static = Predictor(predictor.model, predictor.processor, grid=8, cache="static")
    for prompt in (SEG, VG, "[CAP] Describe the image."):
        assert static.predict(image, prompt, max_new_tokens=12).text == predictor.predict(
            image, prompt, max_new_tokens=12
        ).text


def test_int8_weight_only_quantizes_the_language_model(model_dir, image):
    from univlm.inference.acceleration import Int8WeightOnlyLinear

    quantized = Predictor.from_pretrained(model_dir, grid=8, quantize="int8")
    layers = [m for m in quantized.model.modules() if isinstance(m, Int8WeightOnlyLinear)]
    assert layers and all(m.weight_int8.dtype == torch.int8 for m in layers)
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.model.model.language_model.modules())
    result = quantized.predict(image, SEG)
    assert result.stats["complete"] and result.masks  # the grammar still completes the answer
    assert quantized.info()["dtype"] == "bfloat16"


def test_int4_weight_only_answers_through_the_grammar(model_dir, image):
    from univlm.inference.acceleration import Int4WeightOnlyLinear

    quantized = Predictor.from_pretrained(model_dir, grid=8, quantize="int4")
    layers = [m for m in quantized.model.modules() if isinstance(m, Int4WeightOnlyLinear)]
    assert layers and all(m.weight_int4.dtype == torch.uint8 for m in layers)
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.model.model.language_model.modules())
    result = quantized.predict(image, SEG)
    assert result.stats["complete"] and result.masks
    assert quantized.info()["quantize"] == "int4"


def test_cpu_fp32_predictor_uses_input_major_weights_and_decode_attention_with_the_same_answers(model_dir, predictor, image):
    from univlm.inference.acceleration import TransposedLinear

    assert predictor.info()["weights"] == "input-major"
    assert predictor.info()["attention"] == "univlm_decode_sdpa"
    assert isinstance(predictor.model.lm_head, TransposedLinear)
    plain = Predictor.from_pretrained(model_dir, grid=8, transpose_weights=False, decode_attention=False)
    assert plain.info()["weights"] == "as loaded" and isinstance(plain.model.lm_head, torch.nn.Linear)
    assert plain.info()["attention"] == "sdpa"
    for prompt in (SEG, VG, "[CAP] Describe the image."):
        assert predictor.predict(image, prompt, max_new_tokens=12).text == plain.predict(
            image, prompt, max_new_tokens=12
        ).text
    with pytest.raises(ValueError, match="transpose_weights is for unquantized weights; got quantize='int8'"):
        Predictor(plain.model, plain.processor, quantize="int8", transpose_weights=True)


def test_unknown_decode_options_are_refused(predictor):
    with pytest.raises(ValueError, match="quantize must be one of"):
        Predictor(predictor.model, predictor.processor, quantize="int3")
    with pytest.raises(ValueError, match="cache must be one of"):
        Predictor(predictor.model, predictor.processor, cache="paged")
