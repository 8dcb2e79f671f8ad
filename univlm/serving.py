"""The serving bundle: per-expert dense checkpoints, a routing manifest and grammar files.

A serving engine (vLLM, SGLang) runs stock LLaVA-OneVision checkpoints and constrains output with
XGrammar; it knows nothing of univlm's experts. ``univlm export-dense --all`` therefore writes each
expert as a stock checkpoint and this module writes what a client needs to route requests to them:

- ``routing.json``: the model config's routing (table, mode, default expert) and, per expert, the
  folder of its checkpoint. A client routes each request with the same rule as univlm
  (:func:`univlm.models.router.route_from_config` accepts this manifest as a config, since it has
  the same field names) and sends it to that expert's server.
- ``grammars/box.ebnf`` and ``grammars/box.regex``: the box grammar. Mask grammars depend on the
  labels a request asks for, so clients build them per request (``univlm grammar --labels ...`` or
  :func:`univlm.inference.grammar_export.mask_ebnf`); ``grammars/mask_example.ebnf`` shows one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from univlm.fileio import atomic_write_text
from univlm.inference.grammar_export import box_ebnf, box_regex, mask_ebnf
from univlm.tasks import DEFAULT_EXPERT, DEFAULT_GRID, DEFAULT_ROUTER_TABLE, EXPERT_NAMES

__all__ = ["MANIFEST_NAME", "routing_manifest", "write_serving_bundle"]

MANIFEST_NAME = "routing.json"
MANIFEST_VERSION = 1


def routing_manifest(config: Any, expert_dirs: Mapping[str, str], grid: int = DEFAULT_GRID) -> dict[str, Any]:
    """The routing manifest of a G-MoE model whose experts were exported to ``expert_dirs``.

    Args:
        config: The univlm model config (its routing fields are copied).
        expert_dirs: Expert name -> checkpoint folder, relative to the manifest.
        grid: The mask grid side G the model answers with.

    Returns:
        A JSON-ready dict with ``router_table``, ``router_mode``, ``expert_names``, ``default_expert``,
        ``experts`` (name -> folder) and ``grammars`` (name -> file).

    Raises:
        ValueError: If an expert of the config has no folder.
    """
    names = list(getattr(config, "expert_names", None) or EXPERT_NAMES)
    missing = [n for n in names if n not in expert_dirs]
    if missing:
        raise ValueError(f"experts without an exported checkpoint: {missing}; expected all of {names}")
    return {
        "format": "univlm-routing",
        "version": MANIFEST_VERSION,
        "router_table": dict(getattr(config, "router_table", None) or DEFAULT_ROUTER_TABLE),
        "router_mode": getattr(config, "router_mode", None) or "precedence",
        "expert_names": names,
        "default_expert": getattr(config, "default_expert", None) or DEFAULT_EXPERT,
        "experts": {n: os.fspath(expert_dirs[n]) for n in names},
        "mask_grid": grid,
        "grammars": {"box": "grammars/box.ebnf", "box_regex": "grammars/box.regex"},
    }


def write_serving_bundle(
    out_dir: str | os.PathLike[str], config: Any, expert_dirs: Mapping[str, str], example_labels: Sequence[str] = ("building",)
) -> Path:
    """Write ``routing.json`` and the grammar files into ``out_dir`` (atomically, file by file).

    Args:
        out_dir: The export folder (the experts' folders are inside it).
        config: The univlm model config.
        expert_dirs: Expert name -> checkpoint folder relative to ``out_dir``.
        example_labels: Labels of the example mask grammar.

    Returns:
        The manifest's path.
    """
    out = Path(out_dir)
    manifest = routing_manifest(config, expert_dirs)
    atomic_write_text(out / "grammars" / "box.ebnf", box_ebnf())
    atomic_write_text(out / "grammars" / "box.regex", box_regex() + "\n")
    atomic_write_text(out / "grammars" / "mask_example.ebnf", mask_ebnf(list(example_labels), manifest["mask_grid"]))
    path = out / MANIFEST_NAME
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return path
