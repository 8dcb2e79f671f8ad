"""Fixtures shared by the CLI tests that run a model (``predict`` and ``chat``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> str:
    """A tiny random univlm checkpoint, saved once for every test that loads one from disk."""
    from tests.inference._tiny import save_tiny_univlm

    return str(save_tiny_univlm(tmp_path_factory.mktemp("tiny_univlm_cli")))


@pytest.fixture(scope="session")
def image_path(tmp_path_factory) -> str:
    """An 80x50 (non-square) random RGB image file."""
    from tests.inference._tiny import tiny_image

    path = tmp_path_factory.mktemp("img") / "scene.png"
    tiny_image(80, 50).save(path)
    return str(path)
