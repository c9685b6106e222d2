"""Per-request caps on work: the most tokens to generate, texts per embedding call and
characters to speak, each a setting (``MAX_TOKENS``, ``MAX_EMBEDDING_INPUTS``,
``MAX_TTS_CHARACTERS``).

A request over a cap is refused before it reaches a model, with a 422 naming the field,
the setting and its value: one request must not hold a model for minutes. The caps
apply to every way in (the task routes, ``/v1``, batch, parallel and orchestrated
calls, the in-process facades), since they all prepare their call through
:class:`~altlas.inference.prepare.Preparer`. Limits that need the decoded media (audio
seconds, image pixels) are checked by the plugins' decoders instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from altlas.config import Settings
from altlas.inference.decode import TaskCall
from altlas_sdk.audio.tasks import TextToSpeechInput
from altlas_sdk.errors import ValidationFailed
from altlas_sdk.tasks import EmbeddingInput, GenerationParameters


@dataclass(frozen=True)
class RequestCaps:
    """The caps of :mod:`altlas.inference.caps`; 0 turns one off."""

    max_tokens: int = 0
    max_embedding_inputs: int = 0
    max_tts_characters: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestCaps:
        """The caps ``settings`` configure."""
        return cls(
            max_tokens=settings.max_tokens,
            max_embedding_inputs=settings.max_embedding_inputs,
            max_tts_characters=settings.max_tts_characters,
        )

    def check(self, call: TaskCall) -> None:
        """Raise :class:`ValidationFailed` when ``call`` asks for more than a cap."""
        parameters, inputs = call.parameters, call.inputs
        if isinstance(parameters, GenerationParameters):
            _check(
                "max_tokens",
                parameters.max_tokens or 0,
                self.max_tokens,
                "MAX_TOKENS",
                "$.parameters.max_tokens",
                "tokens",
            )
        if isinstance(inputs, EmbeddingInput):
            _check(
                "texts",
                len(inputs.texts),
                self.max_embedding_inputs,
                "MAX_EMBEDDING_INPUTS",
                "$.inputs.texts",
                "texts",
            )
        if isinstance(inputs, TextToSpeechInput):
            _check(
                "text",
                len(inputs.text),
                self.max_tts_characters,
                "MAX_TTS_CHARACTERS",
                "$.inputs.text",
                "characters",
            )


def _check(field: str, asked: int, cap: int, setting: str, param: str, unit: str) -> None:
    if cap and asked > cap:
        raise ValidationFailed(
            f"{field} asks for {asked} {unit}; the limit is {cap} ({setting})",
            param=param,
            code="limit_exceeded",
        )
