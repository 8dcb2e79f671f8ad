"""Training: two-stage recipes (dense SFT, then G-MoE experts) on TRL's SFTTrainer and accelerate.

Modules (import them directly; this package imports nothing heavy):

- ``config``: ``UniVLMArguments``, ``UniVLMSFTConfig`` (TRL's ``SFTConfig`` with univlm's defaults) and
  ``parse_args`` (TRL's ``TrlParser``: defaults < ``--config`` YAML < ``--FIELD VALUE``).
- ``collator``: ``PaddingFreeCollator`` (flattened batches) and ``PaddedCollator``.
- ``attention``: ``sdpa_packed``, per-example attention for flattened batches on CPU.
- ``dataset``: record checking (through ``univlm.data.validate``), the offline over-length filter,
  ``RecordEncoder``.
- ``stages``: stage-1 / stage-2 model building, freezing, ZeRO-3 leaf modules.
- ``trainer``: ``UniVLMSFTTrainer`` and checkpoint completeness markers.
- ``callbacks``: loss history, one plain log line per logging step, run summary.
- ``pipeline``: ``run(args, training_args)``, the end-to-end run behind ``recipes/stage1_sft.py`` and
  ``recipes/stage2_gmoe.py``, and ``evaluate_val`` (val-split generation and scoring).
- ``recipe``: ``run_recipe``, the recipes' command-line body (parse, run, one-line errors, exit codes).
- ``conversation``: ``encode_conversation``, one conversation to ids with assistant-only labels.
"""
