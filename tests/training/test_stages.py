"""Stage building: under a ZeRO-3 config every GMoEMLP is a DeepSpeed leaf module (issue #14 §6: the
trainer's arguments, which register the DeepSpeed config, are built before the model), and the experts
are upcycled from the full dense weights although ZeRO-3 loads the checkpoint sharded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--model_overrides", '{"text_config": {"num_hidden_layers": 2}, "vision_config": {"num_hidden_layers": 1}}']

# ZeRO-3 partitions parameters while the model is built, which needs a process group: one gloo rank, in
# a subprocess so that neither the group nor DeepSpeed's globals leak into other tests.
_ZERO3_SCRIPT = """
import json, os, socket, sys
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
import torch.distributed as dist
dist.init_process_group("gloo", rank=0, world_size=1)
import torch
from deepspeed.utils import z3_leaf_module
from safetensors.torch import load_file
from univlm.models.modeling_univlm import GMoEMLP
from univlm.training.config import parse_args
from univlm.training.stages import build_stage2
args, training_args = parse_args(sys.argv[1:])
model, _processor, _n = build_stage2(args)
blocks = [m for m in model.modules() if isinstance(m, GMoEMLP)]
# Each expert must be a copy of the full dense FFN, not of this rank's (here empty) ZeRO-3 shard.
dense = load_file(os.path.join(args.init_from, "model.safetensors"))
copied = 0
for name, param in model.named_parameters():
    if ".experts." in name:
        parts = name.split(".")
        i = parts.index("experts")
        copied += torch.equal(param.detach(), dense[".".join(parts[:i] + parts[i + 2:])])
experts = sum(".experts." in name for name, _ in model.named_parameters())
print(json.dumps({"blocks": len(blocks), "leaves": sum(bool(z3_leaf_module(m)) for m in blocks),
                  "experts": experts, "copied": copied}))
dist.destroy_process_group()
"""


@pytest.fixture(scope="module")
def stage1_dir(tmp_path_factory):
    from univlm.training.config import parse_args
    from univlm.training.stages import build_stage1

    out = tmp_path_factory.mktemp("stage1")
    args, train = parse_args(SMALL)
    model, processor = build_stage1(args, [], seed=train.seed)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_without_zero3_nothing_is_marked(stage1_dir, tmp_path):
    from univlm.models.modeling_univlm import GMoEMLP
    from univlm.training.config import parse_args
    from univlm.training.stages import build_stage2

    args, _train = parse_args(["--stage", "2", "--init_from", str(stage1_dir), "--output_dir", str(tmp_path)])
    model, _processor, _n = build_stage2(args)
    blocks = [m for m in model.modules() if isinstance(m, GMoEMLP)]
    assert len(blocks) == 2 and not any(getattr(m, "_z3_leaf", False) for m in blocks)


def test_every_gmoe_block_is_a_zero3_leaf(stage1_dir, tmp_path):
    pytest.importorskip("deepspeed")  # the `test` extra installs it; it imports and runs on CPU
    ds_config = tmp_path / "zero3.json"
    ds_config.write_text(json.dumps({
        "zero_optimization": {"stage": 3},
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
    }))  # fmt: skip
    argv = ["--stage", "2", "--init_from", str(stage1_dir), "--output_dir", str(tmp_path / "o"),
            "--deepspeed", str(ds_config)]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", _ZERO3_SCRIPT, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["blocks"] == 2 and result["leaves"] == result["blocks"]
    assert result["experts"] > 0 and result["copied"] == result["experts"]
