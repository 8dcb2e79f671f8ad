"""Stage-2 gradients: every expert gets a gradient tensor each step, also under real (gloo) DDP; gradient
checkpointing keeps the routing; freezing leaves only the experts trainable."""

from __future__ import annotations

import os
import socket

import torch

from univlm.models import UniVLMForConditionalGeneration, get_preset, upcycle_to_gmoe
from univlm.models.modeling_univlm import expert_parameters
from univlm.training.stages import freeze_for_stage2

SMALL = {
    "text_config": {"num_hidden_layers": 2, "vocab_size": 128},
    "vision_config": {"num_hidden_layers": 1},
}


def _stage2_model(seed: int = 0) -> UniVLMForConditionalGeneration:
    torch.manual_seed(seed)
    config = get_preset("tiny", **SMALL)
    config._attn_implementation = "sdpa"
    model = upcycle_to_gmoe(UniVLMForConditionalGeneration(config))
    freeze_for_stage2(model)
    return model.train()


def _text_batch(expert: int, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 100, (2, 12), generator=gen)
    return {
        "input_ids": ids,
        "labels": ids.clone(),
        "expert_ids": torch.full((2,), expert),
        "use_cache": False,
    }


def test_freeze_leaves_only_experts_trainable():
    model = _stage2_model()
    experts = expert_parameters(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(experts)
    assert any(".experts.2." in n for n in trainable)


def test_every_expert_gets_a_grad_when_one_is_routed():
    model = _stage2_model()
    model(**_text_batch(expert=1)).loss.backward()
    for name, param in expert_parameters(model).items():
        assert param.grad is not None, name
        routed = ".experts.1." in name
        assert (param.grad.abs().sum() > 0) == routed, name


def test_gradient_checkpointing_keeps_routing():
    grads = []
    for checkpointing in (False, True):
        model = _stage2_model()
        if checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        batch = _text_batch(expert=0)
        batch["expert_ids"] = torch.tensor([[0] * 6 + [2] * 6, [1] * 12])  # per-token routing
        model(**batch).loss.backward()
        grads.append({n: p.grad.clone() for n, p in expert_parameters(model).items()})
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name


def _ddp_worker(rank: int, world: int, port: int, queue) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        model = _stage2_model()
        # find_unused_parameters=False: DDP raises on the next step if any trainable parameter got no grad.
        ddp = DistributedDataParallel(model, find_unused_parameters=False)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for step in range(2):
            opt.zero_grad()
            # Each rank routes its whole batch to a different single expert; expert 1 gets nothing anywhere.
            ddp(**_text_batch(expert=2 * rank, seed=step)).loss.backward()
            opt.step()
        sums = {n: float(p.detach().double().sum()) for n, p in expert_parameters(model).items()}
        missing = [n for n, p in expert_parameters(model).items() if p.grad is None]
        queue.put((rank, sums, missing))  # SimpleQueue writes straight to the pipe: nothing is buffered
    except BaseException:
        dist.destroy_process_group()
        raise
    # Freeing DDP's reducer joins the gloo worker thread while this thread holds the GIL; if that worker
    # still has to drop its last work item (which takes the GIL), both wait forever (seen as a rare hang
    # at the end of this test). The result is sent and no collective remains, so skip the teardown.
    os._exit(0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_experts_synchronised_without_unused_parameter_search():
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_ddp_worker, args=(2, _free_port(), queue), nprocs=2, join=True, start_method="spawn")
    results = {}
    for _ in range(2):
        rank, sums, missing = queue.get()
        results[rank] = sums
        assert missing == [], f"rank {rank}: experts without grad {missing[:3]}"
    # Gradients were all-reduced, so both ranks hold identical experts; experts 0 and 2 moved, 1 did not.
    assert results[0] == results[1]
    reference = {n: float(p.detach().double().sum()) for n, p in expert_parameters(_stage2_model()).items()}
    for name, value in results[0].items():
        assert (value != reference[name]) == (".experts.1." not in name), name
