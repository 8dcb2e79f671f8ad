"""Inference: ``Predictor`` (images + prompt -> structured ``Result``) and constrained decoding.

The package imports lazily (PEP 562), so ``univlm.inference.overlay`` and ``univlm.inference.result``
(numpy and Pillow only) load without torch or transformers; ``from univlm.inference import Predictor``
loads the model stack on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from univlm._lazy import lazy_module_attributes

# Public name -> defining module, imported on first attribute access.
_LAZY: dict[str, str] = {
    "BoxGrammar": "univlm.inference.grammars",
    "ClassMaskResult": "univlm.inference.result",
    "GrammarError": "univlm.inference.grammars",
    "GrammarLogitsProcessor": "univlm.inference.logits_processor",
    "MaskGrammar": "univlm.inference.grammars",
    "Predictor": "univlm.inference.predictor",
    "Result": "univlm.inference.result",
    "constrained_decode": "univlm.inference.decoding",
    "constrained_decode_batch": "univlm.inference.decoding",
    "labels_from_prompt": "univlm.inference.prompts",
    "parse_answer": "univlm.inference.result",
}

__all__ = [
    "BoxGrammar",
    "ClassMaskResult",
    "GrammarError",
    "GrammarLogitsProcessor",
    "MaskGrammar",
    "Predictor",
    "Result",
    "constrained_decode",
    "constrained_decode_batch",
    "labels_from_prompt",
    "parse_answer",
]

if TYPE_CHECKING:
    from univlm.inference.decoding import constrained_decode, constrained_decode_batch
    from univlm.inference.grammars import BoxGrammar, GrammarError, MaskGrammar
    from univlm.inference.logits_processor import GrammarLogitsProcessor
    from univlm.inference.predictor import Predictor
    from univlm.inference.prompts import labels_from_prompt
    from univlm.inference.result import ClassMaskResult, Result, parse_answer


__getattr__, __dir__ = lazy_module_attributes(__name__, _LAZY, globals())
