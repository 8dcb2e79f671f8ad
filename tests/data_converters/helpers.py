"""Shared helpers of the converter tests: the committed fake datasets and a file corrupter."""

from __future__ import annotations

import json
from pathlib import Path

FAKE_ROOT = Path(__file__).resolve().parents[1] / "data"


def fake_dir(name: str) -> Path:
    """The committed fake copy of one dataset (written by ``tests/data/<name>/data.py``)."""
    return FAKE_ROOT / name


def expected(name: str) -> dict:
    """The ground truth the fake-data script recorded in ``expected.json``."""
    return json.loads((fake_dir(name) / "expected.json").read_text())


def corrupt(path: Path) -> None:
    """Truncate an image file to half its bytes (decoding it must fail)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
