"""Training: two-stage recipes (dense SFT, then G-MoE experts) on TRL's SFTTrainer and accelerate.

Modules (import them directly; this package imports nothing heavy):

- ``config``: ``TrainConfig`` and ``parse_args`` (defaults < YAML < ``--FIELD VALUE``).
- ``collator``: ``PaddingFreeCollator`` (flattened batches) and ``PaddedCollator``.
- ``attention``: ``sdpa_packed``, per-example attention for flattened batches on CPU.
- ``dataset``: record checking, the offline over-length filter, ``RecordEncoder``.
- ``stages``: stage-1 / stage-2 model building, freezing, ``SFTConfig`` translation.
- ``trainer``: ``UniVLMSFTTrainer`` and checkpoint completeness markers.
- ``callbacks``: loss history and run summary.
- ``pipeline``: ``run(cfg)``, the end-to-end run behind ``recipes/stage1_sft.py`` and ``recipes/stage2_gmoe.py``.
"""
