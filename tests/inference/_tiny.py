"""A tiny random univlm checkpoint for inference tests, built in-process and saved to a directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_tiny_univlm(path: Path, seed: int = 0) -> Path:
    """Save a tiny G-MoE univlm (tiny preset, perturbed experts) and its processor to ``path``.

    The experts are made to differ so that routing changes outputs, as after real training.
    """
    import torch

    from tokenizer_ext import resize_embeddings_for
    from univlm.models import UniVLMForConditionalGeneration, UniVLMProcessor, get_preset, upcycle_to_gmoe
    from univlm.models.modeling_univlm import expert_parameters
    from univlm.testing import build_tiny_qwen2_tokenizer

    tokenizer = build_tiny_qwen2_tokenizer()
    processor = UniVLMProcessor.from_tokenizer(tokenizer, image_size=64, patch_size=8)
    torch.manual_seed(seed)
    model = UniVLMForConditionalGeneration(get_preset("tiny"))
    resize_embeddings_for(model, tokenizer)
    upcycle_to_gmoe(model)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in expert_parameters(model).values():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def tiny_image(width: int = 80, height: int = 50, seed: int = 0):
    """A random RGB PIL image of the given (non-square) size."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def one_torch_thread():
    """Generator for a fixture: tiny models run far faster on one thread, and CI shares 2 cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
