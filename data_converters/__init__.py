"""Converters from public remote-sensing datasets (native layouts) to univlm instruction JSONL.

Every module in ``data_converters/datasets/`` that defines a module-level ``CONVERTER`` (a
:class:`~data_converters.base.Converter`) is registered automatically: adding a dataset means adding
one file. See docs/CONVERTERS.md.
"""

from __future__ import annotations

import importlib
import pkgutil

from data_converters.base import (
    ConvertContext,
    Converter,
    ConvertSummary,
    DatasetCard,
    ImageInfo,
    LayoutError,
    Skip,
    convert,
    make_record,
)

__all__ = [
    "ConvertContext",
    "ConvertSummary",
    "Converter",
    "DatasetCard",
    "ImageInfo",
    "LayoutError",
    "Skip",
    "available_converters",
    "convert",
    "get_converter",
    "make_record",
]


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def available_converters() -> dict[str, Converter]:
    """All registered converters by name, discovered from ``data_converters.datasets``.

    Returns:
        ``{name: Converter}`` sorted by name.

    Raises:
        TypeError: If a dataset module's ``CONVERTER`` is not a :class:`Converter`.
        ValueError: If two modules register the same name.
    """
    # Imported on demand: the dataset modules are discovered only when a converter is looked up.
    from data_converters import datasets

    found: dict[str, Converter] = {}
    for info in pkgutil.iter_modules(datasets.__path__):
        module = importlib.import_module(f"{datasets.__name__}.{info.name}")
        conv = getattr(module, "CONVERTER", None)
        if conv is None:
            continue
        if not isinstance(conv, Converter):
            raise TypeError(f"{module.__name__}.CONVERTER is {type(conv).__name__}, expected Converter")
        key = _key(conv.name)
        if key in found:
            raise ValueError(f"converter name {conv.name!r} registered twice (again in {module.__name__})")
        found[key] = conv
    return dict(sorted(found.items()))


def get_converter(name: str) -> Converter:
    """The converter registered as ``name`` (case-insensitive; ``_`` and ``-`` are equivalent).

    Raises:
        KeyError: Naming the unknown dataset and listing the known ones.
    """
    convs = available_converters()
    try:
        return convs[_key(name)]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(convs)}") from None
