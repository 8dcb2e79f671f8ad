"""Inference: ``Predictor`` (images + prompt -> structured ``Result``) and constrained decoding."""

from __future__ import annotations

from univlm.inference.constrained import (
    BoxGrammar,
    GrammarError,
    GrammarLogitsProcessor,
    MaskGrammar,
    constrained_decode,
)
from univlm.inference.predictor import Predictor, labels_from_prompt
from univlm.inference.result import ClassMaskResult, Result, parse_answer

__all__ = [
    "BoxGrammar",
    "ClassMaskResult",
    "GrammarError",
    "GrammarLogitsProcessor",
    "MaskGrammar",
    "Predictor",
    "Result",
    "constrained_decode",
    "labels_from_prompt",
    "parse_answer",
]
