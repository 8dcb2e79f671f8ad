"""Captioning and change-captioning metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr.

Scoring is delegated to pycocoevalcap (the reference implementation; its CIDEr scorer is the CIDEr-D
variant with the Gaussian length penalty and clipping) under one of two protocols:

``coco``
    The COCO caption protocol: every caption goes through the Stanford PTB tokenizer
    (``pycocoevalcap.tokenizer.PTBTokenizer``: lowercases, splits punctuation, drops punctuation tokens)
    before scoring. The tokenizer and METEOR both run Java; without Java this protocol cannot be
    reproduced and :class:`JavaNotFoundError` is raised.

``levircc``
    The LEVIR-CC change-captioning protocol (RSICCformer / Chg2Cap evaluation): no PTB tokenizer; each
    caption is lowercased, punctuation is removed (LEVIR-CC's released token lists carry none) and the
    text is split on whitespace, then the same pycocoevalcap scorers run on the space-joined tokens.
    METEOR still needs Java: without it METEOR is reported as null and a note says so, the other
    metrics are unaffected.

Java is looked up with ``shutil.which("java")``; its absence is always stated in the result's
``notes`` (never a silent skip).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence

logger = logging.getLogger(__name__)

CAPTION_PROTOCOLS: tuple[str, ...] = ("coco", "levircc")
_PUNCT_RE = re.compile(r"[^\w\s]")


class JavaNotFoundError(RuntimeError):
    """Raised when a protocol needs Java (PTB tokenizer, METEOR) and no ``java`` is on PATH."""


def java_available() -> bool:
    """Return True when a ``java`` executable is on PATH (needed by PTBTokenizer and METEOR)."""
    return shutil.which("java") is not None


def whitespace_tokenize(text: str) -> str:
    """LEVIR-CC tokenisation: lowercase, drop punctuation, split on whitespace, join with single spaces.

    Args:
        text: A caption.

    Returns:
        The space-joined tokens.
    """
    return " ".join(_PUNCT_RE.sub(" ", text.lower()).split())


def caption_scores(
    hypotheses: Sequence[str | None],
    references: Sequence[Sequence[str]],
    protocol: str = "levircc",
    meteor: bool = True,
) -> dict:
    """Corpus-level caption metrics.

    Args:
        hypotheses: One generated caption per sample; None (missing prediction) is scored as an empty
            caption.
        references: One or more reference captions per sample.
        protocol: ``"coco"`` (PTB tokenizer, needs Java) or ``"levircc"`` (whitespace tokens).
        meteor: Compute METEOR (starts a Java process, a few seconds); when False it is reported null.

    Returns:
        ``{"BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "total", "notes": [str]}``; scores in 0..1
        except CIDEr (0..10). ``METEOR`` is None when it was not computed, and ``notes`` says why.

    Raises:
        ValueError: If the lengths differ, a sample has no reference, or the protocol is unknown.
        JavaNotFoundError: For ``protocol="coco"`` when Java is missing.
    """
    # pycocoevalcap is the optional ``eval`` extra: imported only when captions are scored.
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    if protocol not in CAPTION_PROTOCOLS:
        raise ValueError(f"unknown caption protocol {protocol!r}; expected one of {CAPTION_PROTOCOLS}")
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses for {len(references)} reference sets")
    for i, refs in enumerate(references):
        if not refs:
            raise ValueError(f"sample {i} has no reference caption; expected at least one")
    notes: list[str] = []
    has_java = java_available()
    if protocol == "coco":
        if not has_java:
            raise JavaNotFoundError(
                "the COCO caption protocol needs Java (Stanford PTB tokenizer and METEOR) but no 'java' "
                "is on PATH; install a JRE (e.g. apt-get install default-jre-headless) or use the "
                "'levircc' protocol"
            )
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # the eval extra, as above

        # One tokenizer call (one JVM start) for references and hypotheses together.
        captions = {("ref", i): [{"caption": r} for r in refs] for i, refs in enumerate(references)}
        captions.update({("hyp", i): [{"caption": h or ""}] for i, h in enumerate(hypotheses)})
        tokens = PTBTokenizer().tokenize(captions)
        gts = {i: tokens[("ref", i)] for i in range(len(references))}
        # PTB may drop a line that tokenises to nothing; an empty hypothesis must still be scored (as 0).
        res = {i: tokens.get(("hyp", i), [""])[:1] or [""] for i in range(len(hypotheses))}
    else:
        gts = {i: [whitespace_tokenize(r) for r in refs] for i, refs in enumerate(references)}
        res = {i: [whitespace_tokenize(h or "")] for i, h in enumerate(hypotheses)}

    out: dict = {}
    if gts:
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        for n, value in enumerate(bleu, start=1):
            out[f"BLEU-{n}"] = float(value)
        out["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
        out["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    else:
        out.update({f"BLEU-{n}": 0.0 for n in range(1, 5)}, **{"ROUGE-L": 0.0, "CIDEr": 0.0})
    out["METEOR"] = None
    if not meteor:
        notes.append("METEOR not computed (disabled by the caller)")
    elif not has_java:
        notes.append("METEOR not computed: Java is missing (no 'java' on PATH); install a JRE to get it")
        logger.warning("Java not found: METEOR is reported as null")
    elif gts:
        from pycocoevalcap.meteor.meteor import Meteor  # the eval extra, like the scorers above

        scorer = Meteor()
        try:
            out["METEOR"] = float(scorer.compute_score(gts, res)[0])
        finally:
            # The scorer owns a JVM subprocess; end it now instead of at garbage collection.
            scorer.meteor_p.stdin.close()
            scorer.meteor_p.kill()
            scorer.meteor_p.wait()
    out["total"] = len(hypotheses)
    out["notes"] = notes
    return out
