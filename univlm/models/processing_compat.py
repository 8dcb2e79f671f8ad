"""Deprecated parts of the ``UniVLMProcessor`` API, kept for one release while callers move.

- ``processor.encode_conversation(...)`` delegates to :func:`univlm.training.conversation.encode_conversation`,
  where training labels are now built.
- ``processor.router_table`` / ``expert_names`` / ``default_expert`` are read-only and give univlm's
  *defaults*, never a checkpoint's own routing, with a ``DeprecationWarning``: routing lives in the
  model config alone; call :func:`univlm.models.router.route_from_config` with ``model.config``.

Delete this module (and the base class of ``UniVLMProcessor``) once no caller uses these names.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from univlm.tasks import DEFAULT_EXPERT, DEFAULT_ROUTER_TABLE, EXPERT_NAMES

__all__ = ["LegacyProcessorAPI"]


class LegacyProcessorAPI:
    """Mixin of ``UniVLMProcessor`` holding its deprecated names."""

    @property
    def router_table(self) -> Mapping[str, str]:
        """Deprecated: read ``model.config.router_table``. univlm's default table."""
        return _deprecated_default("router_table", DEFAULT_ROUTER_TABLE)

    @property
    def expert_names(self) -> tuple[str, ...]:
        """Deprecated: read ``model.config.expert_names``. univlm's default expert names."""
        return _deprecated_default("expert_names", EXPERT_NAMES)

    @property
    def default_expert(self) -> str:
        """Deprecated: read ``model.config.default_expert``. univlm's default expert."""
        return _deprecated_default("default_expert", DEFAULT_EXPERT)

    def encode_conversation(
        self,
        messages: Sequence[Mapping[str, Any]],
        images: Sequence[Any] | None = None,
        max_length: int | None = None,
        config: Any = None,
    ) -> dict[str, Any]:
        """Encode one training conversation; see :func:`univlm.training.conversation.encode_conversation`."""
        # Imported here: the training package depends on the models package, not the other way round.
        from univlm.training.conversation import encode_conversation

        return encode_conversation(self, messages, images, max_length=max_length, config=config)


def _deprecated_default(name: str, value: Any) -> Any:
    warnings.warn(
        f"UniVLMProcessor.{name} is deprecated: routing lives in the model config; use "
        "univlm.models.router.route_from_config(model.config, prompt)",
        DeprecationWarning,
        stacklevel=3,
    )
    return value
