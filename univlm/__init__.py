"""univlm: a unified remote-sensing vision-language model.

The package imports lazily (PEP 562), as transformers' own ``__init__`` does: ``import univlm``
loads neither torch nor transformers, so the codec commands (``univlm decode-mask``) start fast.
``from univlm import Predictor`` still works and loads the inference stack on first use.

Importing :mod:`univlm.models` registers the univlm configuration, model and processor with
transformers' ``Auto*`` factories, so after ``import univlm.models``,
``AutoModelForImageTextToText.from_pretrained(univlm_dir)`` works without ``trust_remote_code``.
``Predictor.from_pretrained`` imports it for you.

The everyday entry point is :class:`univlm.Predictor`::

    from univlm import Predictor
    result = Predictor.from_pretrained("outputs/stage1").predict("scene.png", "[VG] the largest building")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from univlm._lazy import lazy_module_attributes

__version__ = "0.1.0"

# Public name -> module that defines it; the module is imported on first attribute access.
_LAZY: dict[str, str] = {
    "Predictor": "univlm.inference",
    "Result": "univlm.inference",
}

__all__ = ["Predictor", "Result", "__version__"]

if TYPE_CHECKING:
    from univlm.inference import Predictor, Result


__getattr__, __dir__ = lazy_module_attributes(__name__, _LAZY, globals())
