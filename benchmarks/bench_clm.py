"""Does the mask head (and its class-wise memory) beat text masks? Three ways, equal steps, on CPU.

Usage (from the repository root)::

    python benchmarks/bench_clm.py                 # 3 ways x 3 seeds, 400 steps: ~40 min on one core
    python benchmarks/bench_clm.py --quick         # 1 seed, fewer steps: a smoke run

Data: ``univlm synth`` multi-referring records (``mref``: 1-3 instances per image, each with its own
COCO-RLE mask), 64 x 64 images, generated into a temporary directory (or ``--data DIR``).

Ways, each trained from the same tiny random model (``tiny`` preset, sin-cos vision positions,
seed ``s``) for ``--steps`` AdamW steps on the same batches:

- ``text``: the 24 x 24 Text4Seg answer (the stage-1 format), scored by greedy decoding;
- ``head``: answers ``Sure: [SEG0]..[SEG5] and ...``, LM + mask loss, the head without CLM;
- ``head+clm``: the same with the class-wise learnable memory.

Head masks are read from a teacher-forced forward over the mask-token answer (its text is fixed, so
generation would only reproduce it), with the class query predicted by the head's classifier, never
taken from the ground truth. Per instance IoU at 64 x 64; mIoU is the mean over instances, cIoU the
total intersection over the total union. It prints mean +- sd over the seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HEAD = {
    "dim": 64,
    "num_heads": 4,
    "mlp_dim": 128,
    "decoder_depth": 1,
    "vision_layers": [-1, -2],
    "memory_classes": ["building", "road", "water", "vegetation", "vehicle", "bare land"],
    "memory_slots": 4,
    "memory_dim": 16,
    "memory_size": 8,
}
WAYS = ("text", "head", "head+clm")


def _records(path: Path, limit: int | None) -> list[dict]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["id"].endswith("-mref"):
                out.append(rec)
    return out[:limit] if limit else out


def _build(way: str, seed: int, answers: list[str]):
    from tokenizer_ext import resize_embeddings_for
    from univlm.models import UniVLMForConditionalGeneration, UniVLMProcessor, get_preset
    from univlm.models.mask_head import add_mask_head
    from univlm.models.modeling_univlm import init_vision_positions_sincos
    from univlm.testing import build_tiny_qwen2_tokenizer

    tokenizer = build_tiny_qwen2_tokenizer(vocab_size=800, extra_corpus=answers)
    processor = UniVLMProcessor.from_tokenizer(tokenizer, image_size=64, patch_size=8)
    torch.manual_seed(seed)
    model = UniVLMForConditionalGeneration(get_preset("tiny"))
    resize_embeddings_for(model, processor.tokenizer)
    init_vision_positions_sincos(model, fit_grid=True)
    if way != "text":
        add_mask_head(model, processor.tokenizer, {**HEAD, "use_memory": way == "head+clm"})
    return model, processor


def _encode(rec: dict, root: Path, way: str, model, processor) -> dict:
    from PIL import Image

    from univlm.models.mask_head_targets import record_mask_targets, to_mask_token_record

    if way != "text":
        settings = model.mask_head.settings
        masks, classes = record_mask_targets(rec, settings, model.mask_head.resolution)
        rec = to_mask_token_record(rec, settings)
    with Image.open(root / rec["images"][0]) as im:
        image = im.convert("RGB")
    enc = processor.encode_conversation(rec["messages"], [image])
    enc["task"] = "SEG"
    if way != "text":
        enc["mask_targets"], enc["mask_classes"] = masks, classes
    return enc


def _train(model, batches, steps: int, lr: float, log_every: int = 0) -> float:
    from univlm.models.mask_head_losses import mask_head_loss
    from univlm.training.collator import MASK_KEYS

    vision = [p for n, p in model.named_parameters() if n.startswith("model.vision_tower.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("model.vision_tower.")]
    # The vision tower at a small fraction of the rate, as the CPU stage-1 default (docs/TRAINING.md).
    optimizer = torch.optim.AdamW([{"params": rest, "lr": lr}, {"params": vision, "lr": lr / 20}], weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10) * (1 - s / steps))
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        batch = batches[step % len(batches)]
        forward = {k: v for k, v in batch.items() if k not in (*MASK_KEYS, "task_index", "labels")}
        out = model.model(**forward, use_cache=False)
        logits = model.lm_head(out.last_hidden_state[:, :-1])  # (1, N-1, V)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"][:, 1:].flatten())
        if "mask_targets" in batch:
            mask = mask_head_loss(
                model, out, batch["input_ids"], batch["mask_targets"], batch["mask_counts"],
                batch["mask_classes"], position_ids=batch["position_ids"],
            )  # fmt: skip
            loss = model.mask_head.settings.text_weight * loss + mask.total
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"  step {step + 1}: loss {loss.item():.4f}", flush=True)
    return time.perf_counter() - start


def _iou_parts(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int]:
    return int((pred & gt).sum()), int((pred | gt).sum())


@torch.no_grad()
def _score(way: str, model, processor, records: list[dict], root: Path, max_new_tokens: int) -> tuple[float, float]:
    from PIL import Image

    from univlm.codecs.masks import decode_masks
    from univlm.models.mask_head import find_mask_instances, restore_mask
    from univlm.models.mask_head_targets import record_instances

    model.eval()
    ious, inter_total, union_total = [], 0, 0
    for rec in records:
        truth = record_instances(rec)
        height, width = truth[0][0].shape
        if way == "text":
            with Image.open(root / rec["images"][0]) as im:
                image = im.convert("RGB")
            prompt = processor.encode_conversation(
                [rec["messages"][0], {"role": "assistant", "content": "x"}], [image]
            )  # the prompt part of an encoding: everything before the answer's first label
            first = int((torch.as_tensor(prompt["labels"]) != -100).nonzero()[0])
            ids = torch.as_tensor(prompt["input_ids"][:first])[None]
            out = model.generate(
                input_ids=ids, pixel_values=prompt["pixel_values"], max_new_tokens=max_new_tokens, do_sample=False,
                expert_ids=torch.tensor([prompt["expert_id"]]),
            )  # fmt: skip
            text = processor.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
            decoded = decode_masks(text, grid=24)  # lenient: [] when the answer holds no mask
            labels = decoded[0].labels if decoded else []
            full = decoded[0].upsample(height, width) if decoded else None
            preds = [full == labels.index(d) if d in labels else np.zeros_like(gt) for gt, d in truth]
        else:
            enc = _encode(rec, root, way, model, processor)
            ids = torch.as_tensor(enc["input_ids"])[None]
            out = model.model(input_ids=ids, pixel_values=enc["pixel_values"])
            found = find_mask_instances(ids, model.mask_head.settings.token_ids)
            conditions = out.last_hidden_state[found.rows[:, None], found.positions]
            head = model.mask_head(conditions, out["vision_hidden_states"], torch.zeros_like(found.rows))
            preds = [restore_mask(logit, width, height).numpy() for logit in head.logits]
        for pred, (gt, _) in zip(preds, truth):
            inter, union = _iou_parts(pred, gt)
            ious.append(inter / union if union else 1.0)
            inter_total += inter
            union_total += union
    return float(np.mean(ious)), inter_total / max(union_total, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a univlm synth dataset (default: generate one)")
    parser.add_argument("--scenes", type=int, default=600, help="scenes to generate (default 600)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400, help="training steps per way (below ~300 the head is all background)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--val", type=int, default=40, help="validation records scored per run")
    parser.add_argument("--max-new-tokens", type=int, default=400)
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--log-every", type=int, default=0, help="print the training loss every N steps")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 30 steps, 10 val records")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.val = [0], 30, 10
    torch.set_num_threads(args.threads)

    from univlm.cli.synth import main as synth_main
    from univlm.training.collator import PaddingFreeCollator

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = Path(tmp) / "synth"
            code = synth_main(["-o", str(root), "--n", str(args.scenes), "--size", "64", "--quiet"])
            if code:
                print(f"bench_clm: univlm synth failed with exit code {code}", file=sys.stderr)
                return 1
        train = _records(root / "train.jsonl", None)
        val = _records(root / "val.jsonl", args.val)
        answers = [r["messages"][-1]["content"] for r in train]
        print(
            f"{len(train)} train / {len(val)} val multi-referring records; {args.steps} steps x batch {args.batch}",
            flush=True,
        )
        results: dict[str, list[tuple[float, float]]] = {w: [] for w in args.ways}
        for seed in args.seeds:
            for way in args.ways:
                model, processor = _build(way, seed, answers)
                order = np.random.default_rng(seed).permutation(len(train))
                encoded = [_encode(train[i], root, way, model, processor) for i in order]
                collate = PaddingFreeCollator()
                batches = [collate(encoded[i : i + args.batch]) for i in range(0, len(encoded), args.batch)]
                seconds = _train(model, batches, args.steps, args.lr, args.log_every)
                miou, ciou = _score(way, model, processor, val, root, args.max_new_tokens)
                results[way].append((miou, ciou))
                print(f"seed {seed} {way:9s} mIoU {miou:.3f} cIoU {ciou:.3f} (train {seconds:.0f} s)", flush=True)

    def fmt(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} +- {sd:.3f}"

    print(f"\n| way | mIoU | cIoU |  ({len(args.seeds)} seeds, {args.steps} steps)\n| --- | --- | --- |")
    for way, runs in results.items():
        print(f"| {way} | {fmt([r[0] for r in runs])} | {fmt([r[1] for r in runs])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
