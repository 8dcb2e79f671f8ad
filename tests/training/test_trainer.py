"""UniVLMSFTTrainer's own additions that need no training run: per-module and per-expert learning rates."""

from __future__ import annotations

import copy
import re

import pytest
import torch


@pytest.fixture(scope="module")
def trainer_parts(tmp_path_factory):
    from datasets import Dataset

    from univlm.training.config import parse_args
    from univlm.training.stages import build_stage1

    out = str(tmp_path_factory.mktemp("o"))
    cfg, train = parse_args(["--learning_rate", "1e-3", "--vision_tower_lr", "2e-4", "--output_dir", out])
    model, processor = build_stage1(cfg, [], seed=train.seed)
    dataset = Dataset.from_list([{"id": "a", "task": "CLS"}])
    return cfg, model, processor, dataset, train


def _trainer(parts, module_lrs):
    from univlm.training.trainer import UniVLMSFTTrainer

    _cfg, model, processor, dataset, args = parts
    return UniVLMSFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=processor,
        data_collator=lambda rows: rows, module_lrs=module_lrs,
    )  # fmt: skip


def test_module_learning_rates_get_their_own_groups(trainer_parts):
    from univlm.training.pipeline import module_learning_rates

    cfg, model = trainer_parts[0], trainer_parts[1]
    lrs = module_learning_rates(cfg)
    assert lrs == {r"model\.vision_tower\.": 2e-4}
    optimizer = _trainer(trainer_parts, lrs).create_optimizer()
    by_id = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(by_id) == len(trainable)  # every trainable parameter is in exactly one group
    for name, param in trainable:
        expected = 2e-4 if name.startswith("model.vision_tower.") else 1e-3
        assert by_id[id(param)] == pytest.approx(expected), name
    # Weight-decay exemptions (biases, norms) survive the re-cut.
    assert {group["weight_decay"] for group in optimizer.param_groups} == {trainer_parts[4].weight_decay, 0.0}


def test_expert_learning_rates_reach_only_their_expert(trainer_parts, tmp_path):
    from univlm.models import upcycle_to_gmoe
    from univlm.training.config import parse_args
    from univlm.training.pipeline import module_learning_rates
    from univlm.training.stages import freeze_for_stage2
    from univlm.training.trainer import UniVLMSFTTrainer

    cfg, train = parse_args(
        ["--stage", "2", "--learning_rate", "1e-3", "--expert_lrs.region", "2.5e-4", "--output_dir", str(tmp_path)]
    )
    _cfg, model, processor, dataset, _args = trainer_parts
    model = upcycle_to_gmoe(copy.deepcopy(model))
    freeze_for_stage2(model)
    lrs = module_learning_rates(cfg, model.config.expert_names)
    optimizer = UniVLMSFTTrainer(
        model=model, args=train, train_dataset=dataset, processing_class=processor,
        data_collator=lambda rows: rows, module_lrs=lrs,
    ).create_optimizer()  # fmt: skip
    by_id = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(by_id) == len(trainable) and trainable
    region = [n for n, _ in trainable if ".experts.1." in n]
    assert len(region) == len(trainable) // 3  # one expert of three in every layer
    for name, param in trainable:
        assert by_id[id(param)] == pytest.approx(2.5e-4 if name in region else 1e-3), name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stage", "2", "--expert_lrs", "{image: 1e-4, regoin: 1e-4}"], "unknown experts ['regoin']"),
        (["--stage", "2", "--expert_lrs.region", "-1e-4"], "expert_lrs.region': expected a positive learning rate"),
        (["--stage", "2", "--expert_lrs.pixel", "fast"], "expert_lrs.pixel': expected a positive learning rate"),
        (["--stage", "2", "--expert_lrs.pixel", "nan"], "expert_lrs.pixel': expected a positive learning rate"),
        (["--expert_lrs.region", "1e-4"], "only stage 2 has experts, got stage 1"),
    ],
)
def test_bad_expert_learning_rates_are_named(argv, message):
    from univlm.tasks import EXPERT_NAMES
    from univlm.training.config import parse_args
    from univlm.training.pipeline import module_learning_rates

    with pytest.raises(ValueError, match=re.escape(message)):
        cfg, _train = parse_args(argv)
        module_learning_rates(cfg, list(EXPERT_NAMES))


def test_expert_learning_rates_accept_yaml_exponents_without_a_dot():
    from univlm.training.config import parse_args

    cfg, _train = parse_args(["--stage", "2", "--expert_lrs", "{region: 1e-4, pixel: 2}"])
    assert cfg.expert_lrs == {"region": 1e-4, "pixel": 2.0}  # PyYAML reads "1e-4" as text


def test_without_module_rates_the_optimizer_is_transformers_own(trainer_parts):
    optimizer = _trainer(trainer_parts, None).create_optimizer()
    assert {group["lr"] for group in optimizer.param_groups} == {1e-3}
    assert all(isinstance(p, torch.nn.Parameter) for g in optimizer.param_groups for p in g["params"])


def test_sample_weighted_loss_is_the_mean_of_per_sample_means(trainer_parts):
    from univlm.training.collator import PaddingFreeCollator
    from univlm.training.conversation import encode_conversation

    _cfg, model, processor, _dataset, _args = trainer_parts
    trainer = _trainer(trainer_parts, None)
    convs = [("[CLS] which scene?", "farmland"), ("[CAP] describe it", "a road crosses farmland next to a river")]
    feats = [
        dict(
            encode_conversation(
                processor, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], config=model.config
            ),
            task=q[1:4],
        )
        for q, a in convs
    ]
    model.train()
    per_sample = []
    for f in feats:
        ids, labels = torch.as_tensor(f["input_ids"])[None], torch.as_tensor(f["labels"])[None]
        with torch.no_grad():
            out = model(input_ids=ids, labels=labels, expert_ids=torch.zeros(1, dtype=torch.long))
        per_sample.append(float(out.loss))
    token_batch = PaddingFreeCollator(loss_weighting="token")(feats)
    sample_batch = PaddingFreeCollator(loss_weighting="sample")(feats)
    token_loss = trainer.compute_loss(model, dict(token_batch))
    sample_loss = trainer.compute_loss(model, dict(sample_batch))
    sample_loss.backward()  # the weighted loss keeps the forward's graph
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    n = [int((torch.as_tensor(f["labels"])[1:] != -100).sum()) for f in feats]
    assert sample_loss.item() == pytest.approx(sum(per_sample) / 2, abs=1e-5)
    assert token_loss.item() == pytest.approx((per_sample[0] * n[0] + per_sample[1] * n[1]) / sum(n), abs=1e-5)
    model.zero_grad()


def _lrs(parts, steps: int, **schedule) -> list[float]:
    """The rate of each of ``steps`` steps under the trainer's scheduler with these arguments."""
    import dataclasses

    args = dataclasses.replace(parts[4], warmup_steps=0, **schedule)
    trainer = _trainer((*parts[:4], args), None)
    optimizer = trainer.create_optimizer()
    scheduler = trainer.create_scheduler(steps, optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: nothing moves, only the schedule advances
        scheduler.step()
    return rates


def test_warmup_stable_decay_takes_a_decay_ratio(trainer_parts):
    rates = _lrs(trainer_parts, 100, lr_scheduler_type="warmup_stable_decay",
                 lr_scheduler_kwargs={"decay_ratio": 0.2, "decay_type": "linear"})  # fmt: skip
    assert rates[:81] == pytest.approx([1e-3] * 81)  # stable until the last 20 steps
    assert rates[90] == pytest.approx(0.5e-3) and rates[99] == pytest.approx(0.05e-3)


def test_a_decay_longer_than_the_run_is_cut_to_the_run(trainer_parts, caplog):
    """A 690-step decay on a --max_steps 40 run: a full decay from the peak, not its tail."""
    with caplog.at_level("WARNING", logger="univlm.training.config"):
        rates = _lrs(trainer_parts, 40, lr_scheduler_type="warmup_stable_decay",
                     lr_scheduler_kwargs={"num_decay_steps": 690, "decay_type": "linear"})  # fmt: skip
    assert rates[0] == pytest.approx(1e-3) and rates[20] == pytest.approx(0.5e-3)
    assert "num_decay_steps 690 is longer than the 40 steps after warmup" in caplog.text
