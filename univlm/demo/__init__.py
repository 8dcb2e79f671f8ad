"""The ``univlm demo`` web page (issue #18): a Gradio front end over :class:`~univlm.inference.Predictor`.

- :mod:`univlm.demo.tasks`: task picker -> tagged prompts, uploads -> images, results -> the result
  panel; no Gradio, unit-testable on the core install.
- :mod:`univlm.demo.app`: the Gradio page and its launch (needs the optional ``demo`` extra:
  ``pip install univlm[demo]``; imported lazily, so the core package never needs Gradio).
"""

from __future__ import annotations

from univlm.demo.tasks import TASKS, DemoInputError, build_prompts, resolve_model_dir

__all__ = ["TASKS", "DemoInputError", "build_prompts", "resolve_model_dir"]
