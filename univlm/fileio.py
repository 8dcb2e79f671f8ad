"""Atomic file writes: the one helper every writer in univlm uses.

A reader never sees half a file: data goes to a temporary file in the destination's directory,
is flushed, and then replaces the destination with ``os.replace`` (atomic on POSIX and Windows
when both paths are on one file system). On any error the temporary file is removed and the
destination is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_replace_dir"]


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` when the ``with`` block ends without error.

    Args:
        path: Destination file; its parent directory is created if missing.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding: Text encoding; ignored in binary mode.

    Yields:
        The open temporary file.

    Raises:
        ValueError: If ``mode`` is not a write mode.
    """
    if mode not in {"w", "wb"}:
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding=encoding) as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_replace_dir(tmp_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> None:
    """Move a fully written ``tmp_dir`` into place as ``out_dir``, replacing an existing folder.

    The old folder is first renamed aside and deleted only after the new one is in place, so a
    crash leaves either the old or the new folder under ``out_dir``, never a half-written one.

    Args:
        tmp_dir: A finished folder on the same file system as ``out_dir``.
        out_dir: The destination folder.
    """
    tmp_dir, out_dir = Path(tmp_dir), Path(out_dir)
    if not out_dir.exists():
        os.replace(tmp_dir, out_dir)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
    os.replace(out_dir, aside / "d")
    os.replace(tmp_dir, out_dir)
    shutil.rmtree(aside, ignore_errors=True)
