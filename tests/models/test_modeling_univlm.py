"""Tests of univlm.models.modeling_univlm on the tiny preset (random weights, CPU)."""

from __future__ import annotations

import logging

import pytest
import torch

from univlm.models import get_preset
from univlm.models.conversion import llava_onevision_config, llava_onevision_inputs
from univlm.models.modeling_univlm import (
    GMoEMLP,
    UniVLMForConditionalGeneration,
    expert_parameters,
    pick_attn_implementation,
    upcycle_to_gmoe,
)

IMAGE = 1000  # the tiny preset's placeholder image_token_id
S = 64  # tiny image size
N_IMG = (64 // 8) ** 2 + 1  # tokens per image in pad mode: 8x8 patches + 1 newline


def _batch(images_per_sample=(1, 1), seed=0, ragged=True):
    """Right-padded batch with each sample's images' placeholders and some text around them."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i, n in enumerate(images_per_sample):
        text = torch.randint(3, 900, (3 + i * ragged,), generator=gen).tolist()
        row = [5, 6]
        for _ in range(n):
            row += [IMAGE] * N_IMG + [7]
        rows.append(row + text)
    length = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    pixel_values = torch.randn(sum(images_per_sample), 1, 3, S, S, generator=gen)
    image_sizes = torch.tensor([[S, S]] * pixel_values.shape[0])
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": pixel_values, "image_sizes": image_sizes}


def _scale_expert(model, expert, factor):
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.mlp.experts[expert].down_proj.weight.mul_(factor)


@pytest.fixture(scope="module")
def dense():
    torch.manual_seed(0)
    return UniVLMForConditionalGeneration(get_preset("tiny")).eval()


@pytest.fixture(scope="module")
def gmoe(dense):
    """An upcycled copy of ``dense`` whose experts were made different from each other."""
    model = UniVLMForConditionalGeneration(get_preset("tiny")).eval()
    model.load_state_dict(dense.state_dict())
    upcycle_to_gmoe(model)
    _scale_expert(model, 1, 3.0)
    _scale_expert(model, 2, -2.0)
    return model


def test_pick_attn_implementation_is_sdpa_on_cpu():
    if not torch.cuda.is_available():
        assert pick_attn_implementation() == "sdpa"


def test_image_tokens_replace_placeholders_one_to_one(dense):
    batch = _batch((1, 2))
    with torch.no_grad():
        out = dense(**batch)
    assert out.logits.shape == (*batch["input_ids"].shape, dense.config.text_config.vocab_size)
    # transformers renamed the field during 5.x: image_hidden_states, later image_outputs.pooler_output.
    image_outputs = getattr(out, "image_outputs", None)
    features = image_outputs.pooler_output if image_outputs is not None else out.image_hidden_states
    if isinstance(features, (list, tuple)):
        features = torch.cat(list(features))  # (images x tokens, D)
    assert features.shape == (3 * N_IMG, dense.config.text_config.hidden_size)


def test_placeholder_count_mismatch_is_an_error(dense):
    batch = _batch((1, 1))
    batch["pixel_values"] = batch["pixel_values"][:1]
    with pytest.raises(ValueError, match="tokens"):
        dense(**batch)


def test_pad_mode_rejects_several_crops(dense):
    batch = _batch((1,))
    batch["pixel_values"] = batch["pixel_values"].expand(1, 2, 3, S, S)
    with pytest.raises(ValueError, match="one crop per image"):
        dense(**batch)


@pytest.mark.parametrize("images_per_sample", [(1,), (2,), (1, 2)], ids=["one", "two", "mixed-batch"])
def test_dense_matches_transformers_llava_onevision(dense, images_per_sample):
    from transformers import LlavaOnevisionForConditionalGeneration

    stock = LlavaOnevisionForConditionalGeneration(llava_onevision_config(dense.config)).eval()
    result = stock.load_state_dict(dense.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    batch = _batch(images_per_sample)
    with torch.no_grad():
        ours = dense(**batch).logits
        theirs = stock(**llava_onevision_inputs(batch)).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_upcycled_equals_dense_exactly(dense):
    model = UniVLMForConditionalGeneration(get_preset("tiny")).eval()
    model.load_state_dict(dense.state_dict())
    upcycle_to_gmoe(model)
    assert model.config.use_gmoe
    batch = _batch((1, 2))
    with torch.no_grad():
        reference = dense(**batch).logits
        for expert_ids in (torch.tensor([0, 0]), torch.tensor([1, 2]), torch.tensor([2, 1])):
            assert torch.equal(model(**batch, expert_ids=expert_ids).logits, reference)
        per_token = torch.randint(0, 3, batch["input_ids"].shape, generator=torch.Generator().manual_seed(1))
        assert torch.equal(model(**batch, expert_ids=per_token).logits, reference)


def test_upcycle_twice_is_an_error(gmoe):
    with pytest.raises(ValueError, match="already"):
        upcycle_to_gmoe(gmoe)


@pytest.mark.parametrize("expert", [0, 1, 2])
def test_routing_isolation(gmoe, expert):
    batch = _batch((1, 1, 1))
    routing = torch.tensor([0, 1, 2])
    with torch.no_grad():
        before = gmoe(**batch, expert_ids=routing).logits
        _scale_expert(gmoe, expert, 1.5)
        try:
            after = gmoe(**batch, expert_ids=routing).logits
        finally:
            _scale_expert(gmoe, expert, 1 / 1.5)
    for sample in range(3):
        changed = not torch.equal(before[sample], after[sample])
        assert changed == (sample == expert), f"sample {sample} routed to {routing[sample]}"


def test_per_token_routing_uses_each_tokens_expert(gmoe):
    batch = _batch((1,))
    length = batch["input_ids"].shape[1]
    with torch.no_grad():
        all_image = gmoe(**batch, expert_ids=torch.zeros(1, length, dtype=torch.long)).logits
        tail_pixel = torch.zeros(1, length, dtype=torch.long)
        tail_pixel[0, -2:] = 2
        mixed = gmoe(**batch, expert_ids=tail_pixel).logits
    # Causal model: tokens before the first re-routed one are unaffected, the re-routed ones change.
    assert torch.equal(mixed[0, : length - 2], all_image[0, : length - 2])
    assert not torch.equal(mixed[0, -1], all_image[0, -1])


def test_only_routed_experts_get_nonzero_gradients(gmoe):
    gmoe.train()
    try:
        gmoe.zero_grad(set_to_none=True)
        batch = _batch((1, 1))
        out = gmoe(**batch, labels=batch["input_ids"], expert_ids=torch.tensor([0, 2]))
        out.loss.backward()
        for expert in range(3):
            params = expert_parameters(gmoe, expert)
            assert len(params) == 3 * gmoe.config.text_config.num_hidden_layers
            for name, param in params.items():
                assert param.grad is not None, name
                assert (param.grad.abs().sum() > 0) == (expert in (0, 2)), name
    finally:
        gmoe.zero_grad(set_to_none=True)
        gmoe.eval()


def test_gmoe_mlp_calls_every_expert_in_order():
    config = get_preset("tiny").text_config
    moe = GMoEMLP(config, 3)
    calls = []
    for e, expert in enumerate(moe.experts):
        expert.register_forward_hook(lambda mod, inp, out, e=e: calls.append((e, inp[0].shape[0])))
    moe(torch.randn(2, 5, config.hidden_size), torch.tensor([2, 2]))
    assert calls == [(0, 0), (1, 0), (2, 10)]


def test_generate_keeps_expert_ids_on_every_step(gmoe):
    batch = _batch((1, 1), ragged=False)  # no padding: generate and the plain forward see the same positions
    steps = 3
    for expert_ids in (torch.tensor([1, 2]), torch.tensor([[1], [2]]).expand(2, batch["input_ids"].shape[1])):
        generated = gmoe.generate(
            **batch,
            expert_ids=expert_ids.clone(),
            max_new_tokens=steps,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=0,
        )
        ids, mask = batch["input_ids"], batch["attention_mask"]
        sample_routing = torch.tensor([1, 2])
        with torch.no_grad():
            for step in range(steps):
                # Greedy forward without a cache, with per-sample routing.
                logits = gmoe(
                    input_ids=ids, attention_mask=mask, pixel_values=batch["pixel_values"], expert_ids=sample_routing
                ).logits
                step_logits = logits[:, -1]  # (B, V)
                torch.testing.assert_close(generated.scores[step], step_logits, rtol=1e-4, atol=1e-4)
                token = generated.sequences[:, batch["input_ids"].shape[1] + step]
                assert torch.equal(token, step_logits.argmax(-1))
                ids = torch.cat([ids, token[:, None]], 1)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)


def test_generate_routing_matters(gmoe):
    batch = _batch((1,))
    kwargs = {"max_new_tokens": 1, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    a = gmoe.generate(**batch, expert_ids=torch.tensor([0]), **kwargs).scores[0]
    b = gmoe.generate(**batch, expert_ids=torch.tensor([1]), **kwargs).scores[0]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
def test_gradient_checkpointing_keeps_routing(gmoe, reentrant):
    batch = _batch((1, 1))
    routing = torch.tensor([1, 2])

    def grads():
        gmoe.zero_grad(set_to_none=True)
        out = gmoe(**batch, labels=batch["input_ids"], expert_ids=routing)
        out.loss.backward()
        return out.loss.detach(), {n: p.grad.clone() for n, p in expert_parameters(gmoe).items()}

    gmoe.train()
    seen = []
    hooks = [
        layer.mlp.register_forward_pre_hook(lambda mod, args: seen.append((torch.is_grad_enabled(), args[1])))
        for layer in gmoe.model.language_model.layers
    ]
    try:
        loss_plain, grads_plain = grads()
        seen.clear()
        gmoe.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": reentrant})
        layers = gmoe.model.language_model.layers
        assert all(layer.gradient_checkpointing for layer in layers)
        loss_ckpt, grads_ckpt = grads()
    finally:
        for hook in hooks:
            hook.remove()
        gmoe.activation_checkpointing_disable()
        gmoe.zero_grad(set_to_none=True)
        gmoe.eval()
    # Every G-MoE FFN ran twice (forward, then recomputation during backward), both times with the ids.
    assert len(seen) == 2 * len(layers)
    assert all(torch.equal(ids, routing) for _, ids in seen)
    assert torch.equal(loss_plain, loss_ckpt)
    for name, grad in grads_plain.items():
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=1e-5, atol=1e-7)
    assert any(g.abs().sum() > 0 for n, g in grads_ckpt.items() if ".experts.2." in n)
    assert all(g.abs().sum() == 0 for n, g in grads_ckpt.items() if ".experts.0." in n)


def test_gmoe_without_expert_ids_uses_default_expert(gmoe, caplog):
    batch = _batch((1,))
    with torch.no_grad(), caplog.at_level(logging.WARNING, logger="univlm.models.modeling_univlm"):
        implicit = gmoe(**batch).logits
        explicit = gmoe(**batch, expert_ids=torch.tensor([0])).logits
    assert torch.equal(implicit, explicit)
    assert "default expert" in caplog.text


@pytest.mark.parametrize(
    ("expert_ids", "message"),
    [(torch.tensor([3]), r"\[0, 3\)"), (torch.tensor([0, 1]), "shape"), (torch.tensor([0.0]), "integer")],
)
def test_bad_expert_ids_are_errors(gmoe, expert_ids, message):
    with pytest.raises(ValueError, match=message):
        gmoe(**_batch((1,)), expert_ids=expert_ids)


def test_moe_layers_subset():
    model = UniVLMForConditionalGeneration(get_preset("tiny", moe_layers=[1, 3]))
    upcycle_to_gmoe(model)
    kinds = [layer.is_gmoe for layer in model.model.language_model.layers]
    assert kinds == [False, True, False, True]
    assert len(expert_parameters(model)) == 2 * 3 * 3


def test_save_load_round_trip(gmoe, tmp_path):
    from transformers import AutoConfig, AutoModelForImageTextToText

    gmoe.save_pretrained(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.model_type == "univlm" and config.use_gmoe and config.router_table == gmoe.config.router_table
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(loaded) is UniVLMForConditionalGeneration
    assert loaded.lm_head.weight.data_ptr() == loaded.model.language_model.embed_tokens.weight.data_ptr()
    batch = _batch((1, 1))
    with torch.no_grad():
        expected = gmoe(**batch, expert_ids=torch.tensor([2, 1])).logits
        actual = loaded(**batch, expert_ids=torch.tensor([2, 1])).logits
    assert torch.equal(expected, actual)


def test_anyres_mode_matches_transformers_llava_onevision():
    from transformers import LlavaOnevisionForConditionalGeneration

    pinpoints = [[64, 64], [64, 128], [128, 64], [128, 128]]
    torch.manual_seed(2)
    model = UniVLMForConditionalGeneration(
        get_preset("tiny", image_mode="anyres_max_9", image_grid_pinpoints=pinpoints)
    ).eval()
    stock = LlavaOnevisionForConditionalGeneration(llava_onevision_config(model.config)).eval()
    stock.load_state_dict(model.state_dict(), strict=True)
    # One 100x60 (H, W) image: AnyRes picks the 128x64 grid -> base crop + 2 crops.
    pixel_values = torch.randn(1, 3, 3, S, S, generator=torch.Generator().manual_seed(4))
    image_sizes = torch.tensor([[100, 60]])
    with torch.no_grad():
        features = stock.model.get_image_features(pixel_values, image_sizes, return_dict=True).pooler_output
        n_tokens = features[0].shape[0]
        assert n_tokens > N_IMG  # more than one crop's worth
        ids = torch.tensor([[5, 6] + [IMAGE] * n_tokens + [7, 8]])
        ours = model(input_ids=ids, pixel_values=pixel_values, image_sizes=image_sizes).logits
        theirs = stock(input_ids=ids, pixel_values=pixel_values, image_sizes=image_sizes).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_sincos_vision_positions():
    from univlm.models.modeling_univlm import init_vision_positions_sincos, sincos_2d_table

    table = sincos_2d_table(8, 64)  # (64 positions, 64 channels)
    assert table.shape == (64, 64)
    assert torch.cdist(table, table).add(torch.eye(64) * 1e3).min() > 0.1  # every position distinct
    # Channel 0 is sin(y * 1) and channel 32 sin(x * 1): rows of the grid share y, columns share x.
    grid = table.reshape(8, 8, 64)
    assert torch.allclose(grid[:, 0, 0], torch.sin(torch.arange(8.0)))
    assert torch.allclose(grid[0, :, 32], torch.sin(torch.arange(8.0)))
    assert torch.equal(grid[3, :, :32], grid[3, :1, :32].expand(8, 32))
    model = UniVLMForConditionalGeneration(get_preset("tiny"))
    init_vision_positions_sincos(model)
    weights = [m.position_embedding.weight for m in model.modules() if hasattr(m, "position_embedding")]
    assert len(weights) == 1 and torch.equal(weights[0].detach(), table) and weights[0].requires_grad
    with pytest.raises(ValueError, match="exactly 1"):
        init_vision_positions_sincos(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="4 channels"):
        sincos_2d_table(8, 2)


def test_grid_fitted_sincos_has_no_shared_offset():
    from univlm.models.modeling_univlm import init_vision_positions_sincos, sincos_2d_table

    mae, fitted = sincos_2d_table(8, 64), sincos_2d_table(8, 64, fit_grid=True)  # (64, 64) each
    cos = torch.nn.functional.cosine_similarity
    # MAE's low frequencies barely move on 8 positions: opposite corners look alike.
    assert cos(mae[0], mae[63], dim=0) > 0.6
    assert cos(fitted[0], fitted[63], dim=0).abs() < 0.2
    assert fitted.mean(dim=0).abs().max() < 1e-5  # every channel centred over the positions
    used = fitted.pow(2).mean(dim=0)
    assert torch.allclose(used[used > 0], torch.ones(int((used > 0).sum())), atol=1e-5)
    assert torch.cdist(fitted, fitted).add(torch.eye(64) * 1e3).min() > 0.5  # every position distinct
    grid = fitted.reshape(8, 8, 64)
    assert torch.equal(grid[3, :, :32], grid[3, :1, :32].expand(8, 32))  # first half encodes y only
    model = UniVLMForConditionalGeneration(get_preset("tiny"))
    init_vision_positions_sincos(model, fit_grid=True)
    weights = [m.position_embedding.weight for m in model.modules() if hasattr(m, "position_embedding")]
    assert torch.equal(weights[0].detach(), fitted)
