"""Fixtures of the converter tests: a convert-and-validate runner and a scratch copy of a fake dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.data_converters.helpers import fake_dir


@pytest.fixture
def run_converter(tmp_path):
    """Run a converter and return ``(summary, records)``; every record must pass ``validate_record``."""
    from data_converters import convert, get_converter
    from univlm.data.validate import validate_record

    def run(name: str, src: Path, split: str | None = None, **kwargs):
        out = tmp_path / f"{name}-{split}.jsonl"
        summary = convert(
            get_converter(name), src, out, split=split, images_root=src, progress=False, **kwargs
        )
        records = [json.loads(line) for line in out.read_text().splitlines()]
        for rec in records:
            problems = validate_record(rec, root=src, allow_outside_root=True)
            assert problems == [], [p.format() for p in problems]
        assert summary.written == len(records)
        return summary, records

    return run


@pytest.fixture
def fake_copy(tmp_path):
    """Copy a fake dataset into ``tmp_path`` (to corrupt or break it) and return the copy's path."""

    def copy(name: str, sub: str = ".") -> Path:
        dst = tmp_path / "copy" / name
        shutil.copytree(fake_dir(name), dst)
        return dst / sub

    return copy
