"""Inference: ``Predictor`` (images + prompt -> structured ``Result``) and constrained decoding."""

from __future__ import annotations

from univlm.inference.decoding import constrained_decode
from univlm.inference.grammars import BoxGrammar, GrammarError, MaskGrammar
from univlm.inference.logits_processor import GrammarLogitsProcessor
from univlm.inference.predictor import Predictor
from univlm.inference.prompts import labels_from_prompt
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
