"""Tests for UniVLMProcessor: placeholder expansion, image/placeholder checks, labels, routing, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers import AutoTokenizer

from univlm.models.processing_univlm import IGNORE_INDEX, UniVLMProcessor, expand2square

TOKENS = 65  # tiny preset: (64 / 8)^2 patches + 1 image_newline


@pytest.fixture(scope="module")
def processor(tiny_tokenizer_dir):
    """A tiny pad-mode processor over a private copy of the tiny tokenizer (extending mutates it)."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    return UniVLMProcessor.from_tokenizer(tokenizer, image_size=64, patch_size=8)


def _image(height: int, width: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _image_count(processor, input_ids):
    return (input_ids == processor.image_token_id).sum(-1).tolist()


def test_tokens_per_image_matches_llava_onevision_single_crop(processor):
    assert processor.num_image_tokens == 64 and processor.tokens_per_image == TOKENS


def test_single_and_two_image_expansion_in_a_batch(processor):
    prompts = [
        processor.build_prompt("[VG] the largest building", 1),
        processor.build_prompt("[CCD] what changed between the two images?", 2),
        processor.build_prompt("[CAP] hello", 0),
    ]
    assert prompts[1].count("<image>\n") == 2
    batch = processor(prompts, images=[_image(30, 50), _image(40, 40, 1), _image(50, 20, 2)])
    assert _image_count(processor, batch["input_ids"]) == [TOKENS, 2 * TOKENS, 0]
    assert batch["pixel_values"].shape == (3, 1, 3, 64, 64)
    assert batch["image_sizes"].tolist() == [[30, 50], [40, 40], [50, 20]]
    assert batch["expert_ids"].tolist() == [1, 0, 0]
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    # Expanding ids equals tokenizing the expanded text.
    expanded = prompts[0].replace("<image>", "<image>" * TOKENS)
    reference = processor.tokenizer(expanded, add_special_tokens=False)["input_ids"]
    assert batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist() == reference


def test_per_sample_image_lists_and_left_padding(processor):
    prompts = [processor.build_prompt("[SEG] road", 1), processor.build_prompt("[CCD] changes", 2)]
    batch = processor(prompts, images=[[_image(32, 32)], [_image(32, 32), _image(16, 64)]], padding_side="left")
    assert _image_count(processor, batch["input_ids"]) == [TOKENS, 2 * TOKENS]
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][:, -1].tolist() == [1, 1]
    assert batch["expert_ids"].tolist() == [2, 0]


def test_image_placeholder_mismatch_raises_with_both_counts(processor):
    one = processor.build_prompt("[VG] x", 1)
    with pytest.raises(ValueError, match=r"1 <image> placeholders.*2 images"):
        processor(one, images=[[_image(8, 8), _image(8, 8)]])
    with pytest.raises(ValueError, match=r"3 <image> placeholders in total.*2 images"):
        processor([one, processor.build_prompt("[CCD] y", 2)], images=[_image(8, 8), _image(8, 8)])
    with pytest.raises(ValueError, match=r"sample 1 has 2 <image> placeholders but 1 images"):
        processor([one, processor.build_prompt("[CCD] y", 2)], images=[[_image(8, 8)], [_image(8, 8)]])
    with pytest.raises(ValueError, match=r"0 <image> placeholders.*1 images"):
        processor("no placeholder [CAP]", images=[_image(8, 8)])
    with pytest.raises(ValueError, match=r"1 <image> placeholders but 2 images"):
        processor.build_prompt("<image>\n[VG] x", 2)


def test_pad_mode_pixels_equal_expand2square_then_resize(processor):
    image = _image(20, 60)
    pixels = processor(processor.build_prompt("[CAP] a", 1), images=image)["pixel_values"][0, 0]  # (3, S, S)
    square = expand2square(image, (127, 127, 127)).resize((64, 64), Image.BICUBIC)
    expected = (torch.tensor(np.asarray(square), dtype=torch.float32).permute(2, 0, 1) / 255 - 0.5) / 0.5
    torch.testing.assert_close(pixels, expected, atol=2 / 255, rtol=0)
    # Padding rows hold the mean colour, i.e. ~0 after normalisation.
    assert pixels[:, :5].abs().max() < 0.02


def test_pad_mode_matches_llava_onevision_multi_image_padding(processor):
    """transformers' LlavaOnevisionImageProcessor pads multi-image samples exactly as our pad mode does."""
    from transformers import LlavaOnevisionImageProcessorPil

    hf = LlavaOnevisionImageProcessorPil(
        size={"height": 64, "width": 64}, image_mean=[0.5] * 3, image_std=[0.5] * 3, resample=Image.BICUBIC
    )
    images = [_image(20, 60), _image(70, 30, 1)]
    ours = processor(processor.build_prompt("[CCD] a", 2), images=images)["pixel_values"]
    reference = hf([images], return_tensors="pt")["pixel_values"]  # (2, 1, 3, S, S): multi-image -> padded
    torch.testing.assert_close(ours, reference)


def test_encode_conversation_labels_only_assistant_tokens(processor):
    messages = [
        {"role": "user", "content": "<image>\n[VG] the largest building"},
        {"role": "assistant", "content": "[12, 30, 45, 61]"},
        {"role": "user", "content": "[REF] and the road?"},
        {"role": "assistant", "content": "[1, 2, 3, 4]"},
    ]
    enc = processor.encode_conversation(messages, [_image(30, 40)])
    ids, labels = enc["input_ids"], enc["labels"]
    assert ids.shape == labels.shape == enc["attention_mask"].shape and ids.dim() == 1
    assert _image_count(processor, ids) == TOKENS
    supervised = labels != IGNORE_INDEX
    assert not supervised[ids == processor.image_token_id].any()
    assert torch.equal(labels[supervised], ids[supervised])
    assert processor.decode(ids[supervised]) == "[12, 30, 45, 61]<|im_end|>[1, 2, 3, 4]<|im_end|>"
    assert enc["expert_id"] == 1 and enc["task_tag"] == "[VG]"
    assert enc["pixel_values"].shape == (1, 1, 3, 64, 64) and enc["image_sizes"].tolist() == [[30, 40]]
    # The prompt part equals what __call__ produces for the same user turn.
    prompt = processor.build_prompt(messages[:1], num_images=1)
    call = processor(prompt, images=[_image(30, 40)])["input_ids"][0]
    assert torch.equal(ids[: call.shape[0]], call)


def test_encode_conversation_two_images_list_content_and_errors(processor):
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "[SEG] changes"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<seg>others *24</seg>"}]},
    ]
    enc = processor.encode_conversation(messages, [_image(16, 16), _image(16, 16, 1)])
    assert _image_count(processor, enc["input_ids"]) == 2 * TOKENS
    assert enc["expert_id"] == 2 and enc["task_tag"] == "[SEG]"
    with pytest.raises(ValueError, match=r"2 <image> placeholders but 1 images"):
        processor.encode_conversation(messages, [_image(16, 16)])
    with pytest.raises(ValueError, match="no assistant turn"):
        processor.encode_conversation(messages[:1], [_image(16, 16), _image(16, 16)])
    with pytest.raises(ValueError, match="max_length=10"):
        processor.encode_conversation(messages, [_image(16, 16), _image(16, 16)], max_length=10)
    text_only = processor.encode_conversation(
        [{"role": "user", "content": "[VQA] why?"}, {"role": "assistant", "content": "yes"}]
    )
    assert text_only["pixel_values"] is None and text_only["expert_id"] == 0


def test_routing_and_custom_table(processor):
    assert [processor.route(t) for t in ("[SEG] a", "[REF] b", "[CAP] c", "[SEG0] no tag")] == [2, 1, 0, 0]
    custom = UniVLMProcessor(
        processor.image_processor, processor.tokenizer, patch_size=8,
        router_table={"[SEG]": "fine", "[CAP]": "coarse"}, expert_names=["coarse", "fine"], default_expert="coarse",
    )
    assert custom(["[SEG] a", "[VG] b"])["expert_ids"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="unknown experts"):
        UniVLMProcessor(processor.image_processor, processor.tokenizer, patch_size=8, router_table={"[VG]": "nope"})


def test_save_load_round_trip_through_auto_processor(processor, tmp_path):
    from transformers import AutoProcessor

    import univlm.models  # noqa: F401  (registers UniVLMProcessor with AutoProcessor)

    custom = UniVLMProcessor(
        processor.image_processor, processor.tokenizer, patch_size=8,
        router_table={"[SEG]": "fine", "[VG]": "fine"}, expert_names=["coarse", "fine"], default_expert="coarse",
    )
    custom.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, UniVLMProcessor)
    assert loaded.router_table == custom.router_table and loaded.expert_names == ["coarse", "fine"]
    assert loaded.default_expert == "coarse" and loaded.tokens_per_image == TOKENS
    assert loaded.chat_template == custom.chat_template
    prompts = [custom.build_prompt("[VG] x", 1), custom.build_prompt("[CAP] y", 1)]
    images = [_image(30, 50), _image(50, 30, 1)]
    a, b = custom(prompts, images=images), loaded(prompts, images=images)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert b["expert_ids"].tolist() == [1, 0]
    assert loaded.batch_decode(a["input_ids"][:, -3:]) == custom.batch_decode(a["input_ids"][:, -3:])


def test_processor_requires_extended_tokenizer(tiny_tokenizer, processor):
    with pytest.raises(ValueError, match="extend_tokenizer"):
        UniVLMProcessor(processor.image_processor, tiny_tokenizer)


def test_anyres_counts_match_transformers_llava_onevision_processor(processor):
    from transformers import LlavaOnevisionProcessor

    anyres = UniVLMProcessor.from_tokenizer(processor.tokenizer, image_size=64, patch_size=8, image_mode="anyres_max_9")
    # LlavaOnevisionProcessor's constructor needs a video processor (torchvision); its token-count
    # formula only reads these three attributes, so set them on a bare instance.
    hf = object.__new__(LlavaOnevisionProcessor)
    hf.image_processor, hf.num_image_tokens, hf.vision_aspect_ratio = anyres.image_processor, 64, "anyres_max_9"
    for height, width in [(64, 64), (40, 130), (300, 90), (500, 520), (700, 60)]:
        batch = anyres(anyres.build_prompt("[CAP] a", 1), images=_image(height, width))
        assert _image_count(anyres, batch["input_ids"]) == [hf._get_number_of_features(height, width, 64, 64)]
        assert batch["pixel_values"].shape[2:] == (3, 64, 64) and batch["batch_num_images"].tolist() == [1]
    pair = anyres(anyres.build_prompt("[CCD] a", 2), images=[_image(40, 130), _image(64, 64)])
    assert _image_count(anyres, pair["input_ids"]) == [2 * TOKENS]
    assert pair["batch_num_images"].tolist() == [2]


@pytest.mark.parametrize("image_mode", ["pad", "anyres_max_9"])
def test_processor_output_feeds_the_tiny_model(processor, image_mode):
    """The model checks that image features and placeholder tokens agree, so this pins the counts."""
    presets = pytest.importorskip("univlm.models.presets")
    from tokenizer_ext import resize_embeddings_for
    from univlm.models import UniVLMForConditionalGeneration

    config = presets.get_preset("tiny")
    config.image_mode = image_mode
    config.image_grid_pinpoints = [[64 * i, 64 * j] for i in range(1, 4) for j in range(1, 4)]
    proc = UniVLMProcessor.from_config(processor.tokenizer, config)
    assert proc.tokens_per_image == TOKENS and proc.expert_names == config.expert_names
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(config).eval()
    resize_embeddings_for(model, proc.tokenizer)
    prompts = [proc.build_prompt("[VG] a", 1), proc.build_prompt("[CCD] b", 2)]
    batch = proc(prompts, images=[_image(30, 130), _image(40, 40, 1), _image(50, 20, 2)], padding_side="left")
    with torch.no_grad():
        out = model(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape


def test_trl_style_apply_chat_template_masks_match_encode_conversation(processor):
    """TRL's VLM collator calls ProcessorMixin.apply_chat_template(..., return_assistant_tokens_mask=True)."""
    convs = [
        [
            {"role": "user", "content": [{"type": "image", "image": _image(30, 50)}, {"type": "text", "text": "[VG] a"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "[1, 2, 3, 4]"}]},
        ],
        [
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": _image(20, 20, 1)},
                    {"type": "image", "image": _image(20, 40, 2)},
                    {"type": "text", "text": "[CCD] what changed"},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "a new building"}]},
        ],
    ]
    out = processor.apply_chat_template(
        convs, tokenize=True, return_dict=True, return_tensors="pt", return_assistant_tokens_mask=True,
        processor_kwargs={"padding": True, "padding_side": "right", "truncation": False, "add_special_tokens": False},
    )
    assert out["expert_ids"].tolist() == [1, 0] and out["pixel_values"].shape[0] == 3
    for i, conv in enumerate(convs):
        images = [item["image"] for item in conv[0]["content"] if item["type"] == "image"]
        enc = processor.encode_conversation(conv, images)
        length = enc["input_ids"].shape[0]
        assert torch.equal(out["input_ids"][i, :length], enc["input_ids"])
        assert torch.equal(out["assistant_masks"][i, :length].bool(), enc["labels"] != IGNORE_INDEX)
        assert not out["assistant_masks"][i, length:].any()


def test_truncation_refuses_to_cut_image_tokens(processor):
    prompt = processor.build_prompt("[CAP] describe the scene", 1)
    full = processor(prompt, images=_image(16, 16))["input_ids"].shape[1]
    cut = processor(prompt, images=_image(16, 16), truncation=True, max_length=full - 2)["input_ids"]
    assert cut.shape[1] == full - 2
    with pytest.raises(ValueError, match="would cut image tokens"):
        processor(prompt, images=_image(16, 16), truncation=True, max_length=20)


_TEXT = st.text(alphabet="abcxyz 0123[],.*|<>/", min_size=1, max_size=24)


@settings(max_examples=25)
@given(turns=st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=3))
def test_labels_are_exactly_the_assistant_turns_property(processor, turns):
    messages = []
    for user, assistant in turns:
        messages += [{"role": "user", "content": "[VQA] " + user}, {"role": "assistant", "content": assistant}]
    enc = processor.encode_conversation(messages)
    supervised = enc["labels"] != IGNORE_INDEX
    assert processor.decode(enc["input_ids"][supervised]) == "".join(a + "<|im_end|>" for _, a in turns)
    assert processor.decode(enc["input_ids"]) == processor.tokenizer.apply_chat_template(messages, tokenize=False)
