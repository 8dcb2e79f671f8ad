"""Tests for UniVLMProcessor: placeholder expansion, image/placeholder checks, labels, routing, save/load,
and prompts token-identical to RSUniVLM's qwen_1_5 conversation."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers import AutoTokenizer

from univlm.models import get_preset
from univlm.models.processing_univlm import IGNORE_INDEX, UniVLMProcessor, expand2square
from univlm.training.conversation import encode_conversation

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
    assert prompts[1].count("<image> <image>\n") == 1
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
    assert enc["expert_id"] == 1 and enc["task_tag"] == "[REF]"  # routed on the latest user turn
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


def test_encode_conversation_takes_precomputed_images_and_checks_their_count(processor):
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "[SEG] changes"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<seg>others *24</seg>"}]},
    ]
    pair = [_image(16, 16), _image(16, 16, 1)]
    fresh = encode_conversation(processor, messages, pair)
    reused = encode_conversation(processor, messages, pair, processed_images=processor.process_images([pair]))
    assert torch.equal(fresh["input_ids"], reused["input_ids"]) and torch.equal(fresh["labels"], reused["labels"])
    assert torch.equal(fresh["pixel_values"], reused["pixel_values"])
    with pytest.raises(ValueError, match=r"processed_images holds 1 images but 2 images were given"):
        encode_conversation(processor, messages, pair, processed_images=processor.process_images([pair[:1]]))


def _two_expert_config():
    return get_preset(
        "tiny", num_experts=2, expert_names=["coarse", "fine"], default_expert="coarse",
        router_table={"[SEG]": "fine", "[VG]": "fine", "[CAP]": "coarse"},
    )


def test_routing_reads_the_config_passed_per_call(processor):
    decisions = [processor.route_prompt(t).expert_id for t in ("[SEG] a", "[REF] b", "[CAP] c", "[SEG0] no tag")]
    assert decisions == [2, 1, 0, 0]
    config = _two_expert_config()
    assert processor(["[SEG] a", "[CAP] b"], config=config)["expert_ids"].tolist() == [1, 0]
    config.router_table["[CAP]"] = "fine"  # editing the config changes routing: no copy anywhere
    assert processor(["[SEG] a", "[CAP] b"], config=config)["expert_ids"].tolist() == [1, 1]


def test_processor_routes_the_latest_user_turn_with_precedence(processor):
    history = [
        {"role": "user", "content": "<image>\n[VG] the road"},
        {"role": "assistant", "content": "[1, 2, 3, 4]"},
        {"role": "user", "content": "[SEG] the road"},
    ]
    chat = processor.build_prompt(history, num_images=1)
    assert processor(chat, images=_image(16, 16))["expert_ids"].tolist() == [2]
    chat = processor.build_prompt([*history[:2], {"role": "user", "content": "[CAP] and now?"}], num_images=1)
    assert processor(chat, images=_image(16, 16))["expert_ids"].tolist() == [0]
    assert processor(processor.build_prompt("[VG] road next to [SEG]", 0))["expert_ids"].tolist() == [2]


def test_save_load_round_trip_through_auto_processor(processor, tmp_path, caplog):
    from transformers import AutoProcessor

    import univlm.models  # noqa: F401  (registers UniVLMProcessor with AutoProcessor)

    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert "router_table" not in saved and "expert_names" not in saved  # routing lives in config.json alone
    # Checkpoints written before the move still carry the routing fields; they load, ignored.
    saved.update(router_table={"[VG]": "image"}, expert_names=["image"], default_expert="image")
    (tmp_path / "processor_config.json").write_text(json.dumps(saved))
    with caplog.at_level(logging.WARNING):
        loaded = AutoProcessor.from_pretrained(tmp_path)
    assert "unknown arguments" not in caplog.text
    assert isinstance(loaded, UniVLMProcessor)
    assert loaded.tokens_per_image == TOKENS and loaded.chat_template == processor.chat_template
    prompts = [processor.build_prompt("[VG] x", 1), processor.build_prompt("[CAP] y", 1)]
    images = [_image(30, 50), _image(50, 30, 1)]
    a, b = processor(prompts, images=images), loaded(prompts, images=images)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert b["expert_ids"].tolist() == [1, 0]
    assert loaded.batch_decode(a["input_ids"][:, -3:]) == processor.batch_decode(a["input_ids"][:, -3:])


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
    from tokenizer_ext import resize_embeddings_for
    from univlm.models import UniVLMForConditionalGeneration

    config = get_preset("tiny")
    config.image_mode = image_mode
    config.image_grid_pinpoints = [[64 * i, 64 * j] for i in range(1, 4) for j in range(1, 4)]
    proc = UniVLMProcessor.from_config(processor.tokenizer, config)
    assert proc.tokens_per_image == TOKENS
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(config).eval()
    resize_embeddings_for(model, proc.tokenizer)
    prompts = [proc.build_prompt("[VG] a", 1), proc.build_prompt("[CCD] b", 2)]
    batch = proc(
        prompts, images=[_image(30, 130), _image(40, 40, 1), _image(50, 20, 2)], padding_side="left", config=config
    )
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


# RSUniVLM's prompts, written out by hand from LLaVA-NeXT's conv_qwen ("qwen_1_5"): CHATML style,
# system "<|im_start|>system\nYou are a helpful assistant." + sep "<|im_end|>" + "\n", each turn
# role + "\n" + message + "<|im_end|>\n", and an empty assistant turn "<|im_start|>assistant\n".
# The user message is '<image>\n' + msg for one image and '<image> <image>\n' + msg for two (app.py).
RSUNIVLM_ONE = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n<image>\n[VG] the largest building<|im_end|>\n"
    "<|im_start|>assistant\n"
)
RSUNIVLM_TWO = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n<image> <image>\n[CCD] Please briefly describe the changes in these two images.<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def _rsunivlm_token_ids(processor, prompt):
    """LLaVA's tokenizer_image_token: tokenize the text between placeholders, put the image id between."""
    chunks = [processor.tokenizer(c, add_special_tokens=False)["input_ids"] for c in prompt.split("<image>")]
    ids = list(chunks[0])
    for chunk in chunks[1:]:
        ids += [processor.image_token_id, *chunk]
    return ids


def _collapse_images(processor, ids):
    """Undo placeholder expansion: each run of image ids becomes one id (pad mode, 65 per image)."""
    out, image_id = [], processor.image_token_id
    for token in ids:
        if not (token == image_id and out and out[-1] == image_id):
            out.append(token)
    return out


@pytest.mark.parametrize(
    ("message", "num_images", "expected"),
    [
        ("[VG] the largest building", 1, RSUNIVLM_ONE),
        ("[CCD] Please briefly describe the changes in these two images.", 2, RSUNIVLM_TWO),
    ],
)
def test_prompts_are_token_identical_to_rsunivlm(processor, message, num_images, expected):
    from univlm.data.templates import user_content

    reference = _rsunivlm_token_ids(processor, expected)
    trl_content = [{"type": "image"}] * num_images + [{"type": "text", "text": message}]
    old_record = "<image>\n" * num_images + message  # records converted before the change
    renderings = {
        "build_prompt": processor.build_prompt(message, num_images),
        "templates": processor.build_prompt([{"role": "user", "content": user_content(message, num_images)}]),
        "trl_list_form": processor.build_prompt([{"role": "user", "content": trl_content}]),
        "old_record_form": processor.build_prompt([{"role": "user", "content": old_record}]),
    }
    for name, prompt in renderings.items():
        assert prompt == expected, name
        images = [_image(20, 30, i) for i in range(num_images)]
        ids = processor(prompt, images=images)["input_ids"][0].tolist()
        assert _collapse_images(processor, ids) == reference, name
    if num_images == 2:
        # The token between the two image blocks is the tokenizer's " ", not "\n" (RSUniVLM: 220, not 198).
        first = reference.index(processor.image_token_id)
        space = processor.tokenizer(" ", add_special_tokens=False)["input_ids"]
        assert reference[first + 1 : first + 1 + len(space)] == space
        assert reference[first + 1 + len(space)] == processor.image_token_id


def test_encode_conversation_function_routes_with_the_model_config(processor):
    messages = [
        {"role": "user", "content": "<image>\n[CAP] describe"},
        {"role": "assistant", "content": "a field"},
        {"role": "user", "content": "[VG] the field"},
        {"role": "assistant", "content": "[1, 2, 3, 4]"},
    ]
    config = _two_expert_config()
    enc = encode_conversation(processor, messages, [_image(16, 16)], config=config)
    method = processor.encode_conversation(messages, [_image(16, 16)], config=config)
    assert torch.equal(enc["input_ids"], method["input_ids"]) and torch.equal(enc["labels"], method["labels"])
    assert enc["expert_id"] == 1 and enc["task_tag"] == "[VG]"  # the latest user turn decides
    assert encode_conversation(processor, messages, [_image(16, 16)])["expert_id"] == 1  # default table: region


def test_deprecated_routing_attributes_warn_and_give_only_defaults(processor):
    with pytest.warns(DeprecationWarning, match="route_from_config"):
        assert dict(processor.router_table) == {
            "[CAP]": "image", "[CLS]": "image", "[VQA]": "image", "[CCD]": "image",
            "[VG]": "region", "[REF]": "region", "[SEG]": "pixel",
        }  # fmt: skip
    with pytest.warns(DeprecationWarning):
        assert tuple(processor.expert_names) == ("image", "region", "pixel")
    with pytest.warns(DeprecationWarning):
        assert processor.default_expert == "image"
    assert "router_table" not in processor.to_dict()
