"""Server-sent events in OpenAI's streaming format.

Each event is ``data: <json>`` and a blank line; the stream ends with ``data: [DONE]``.
A chat stream opens with a chunk whose delta carries the role, then one chunk per piece
of text, then a chunk with an empty delta and the ``finish_reason``, then (with
``stream_options.include_usage``) a chunk with no choices and the ``usage``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from altlas.openai import tools
from altlas.openai.translate import chat_logprobs, completion_logprobs, finish_reason, usage
from altlas.openai.types import (
    ChatCompletionChunk,
    ChoiceDelta,
    ChunkChoice,
    Completion,
    CompletionChoice,
    FunctionCallDelta,
    ToolCallDelta,
)
from altlas_sdk.tasks import ChatOutput, TextGenerationOutput
from altlas_sdk.tool_calls import starts_tool_calls

#: The event that ends every successful stream.
DONE = b"data: [DONE]\n\n"

_encoder = msgspec.json.Encoder()


def sse(payload: msgspec.Struct) -> bytes:
    """One ``data:`` event."""
    return b"data: " + _encoder.encode(payload) + b"\n\n"


@dataclass
class ChatChunks:
    """Turns ``chat`` output chunks into chat completion chunk events.

    With ``with_tools`` (the request offered tools), text is held back until it shows
    whether the reply is tool calls (``<tool_call>``) or text; each call is then sent
    whole, in one ``tool_calls`` delta, as soon as its block is complete, and the last
    chunk's ``finish_reason`` is ``tool_calls``.
    """

    id: str
    created: int
    model: str
    include_usage: bool
    with_tools: bool = False
    # The reply so far while it is held back; whether it is calls; calls already sent.
    _text: str = field(default="", init=False)
    _calls: bool | None = field(default=None, init=False)
    _sent_calls: int = field(default=0, init=False)

    def _chunk(self, choices: list[ChunkChoice], **fields: object) -> bytes:
        return sse(
            ChatCompletionChunk(
                id=self.id, created=self.created, model=self.model, choices=choices, **fields
            )
        )

    def opening(self) -> bytes:
        """The first event: the assistant's role, no text yet."""
        return self._chunk([ChunkChoice(index=0, delta=ChoiceDelta(role="assistant", content=""))])

    def events(self, output: ChatOutput) -> list[bytes]:
        """The events for one output chunk: its text, and the end when it is the last."""
        events = []
        text = output.message.content
        if self.with_tools and self._calls is not False:
            text = self._hold(text, events, final=output.finish_reason is not None)
        if text or output.logprobs:
            delta = ChoiceDelta(content=text)
            logprobs = chat_logprobs(output.logprobs)
            events.append(self._chunk([ChunkChoice(index=0, delta=delta, logprobs=logprobs)]))
        if output.finish_reason is not None:
            reason = "tool_calls" if self._sent_calls else finish_reason(output.finish_reason)
            events.append(
                self._chunk([ChunkChoice(index=0, delta=ChoiceDelta(), finish_reason=reason)])
            )
            if self.include_usage:
                events.append(self._chunk([], usage=usage(output.usage)))
        return events

    def _hold(self, text: str, events: list[bytes], *, final: bool) -> str:
        """Text to send now, of ``text`` and what was held back; complete tool calls go
        into ``events``."""
        self._text += text
        self._calls = starts_tool_calls(self._text)
        if self._calls is None and not final:
            return ""
        if not self._calls:
            held, self._text = self._text, ""
            return held
        calls = tools.read_calls(self._text)
        for index, call in enumerate(
            tools.tool_calls(calls[self._sent_calls :]), start=self._sent_calls
        ):
            delta = ChoiceDelta(
                tool_calls=[
                    ToolCallDelta(
                        index=index,
                        id=call.id,
                        type="function",
                        function=FunctionCallDelta(
                            name=call.function.name, arguments=call.function.arguments
                        ),
                    )
                ]
            )
            events.append(self._chunk([ChunkChoice(index=0, delta=delta)]))
        self._sent_calls = len(calls)
        if final and not calls:
            # Cut short before a call was complete: what there is goes out as text.
            return self._text
        return ""


@dataclass
class CompletionChunks:
    """Turns ``text-generation`` output chunks into completion events (each chunk is a
    ``text_completion`` object holding a piece of the text)."""

    id: str
    created: int
    model: str
    include_usage: bool
    offset: int = 0

    def _chunk(self, choices: list[CompletionChoice], **fields: object) -> bytes:
        return sse(
            Completion(
                object="text_completion",
                id=self.id,
                created=self.created,
                model=self.model,
                choices=choices,
                **fields,
            )
        )

    def echo(self, prompt: str) -> bytes:
        """The prompt as the first piece of text (``echo: true``)."""
        self.offset += len(prompt)
        return self._chunk([CompletionChoice(index=0, text=prompt, finish_reason=None)])

    def events(self, output: TextGenerationOutput) -> list[bytes]:
        """The events for one output chunk: its text, and the end when it is the last."""
        events = []
        if output.text or output.logprobs:
            logprobs = completion_logprobs(output.logprobs, self.offset)
            self.offset += len(output.text)
            choice = CompletionChoice(
                index=0, text=output.text, finish_reason=None, logprobs=logprobs
            )
            events.append(self._chunk([choice]))
        if output.finish_reason is not None:
            reason = finish_reason(output.finish_reason)
            events.append(self._chunk([CompletionChoice(index=0, text="", finish_reason=reason)]))
            if self.include_usage:
                events.append(self._chunk([], usage=usage(output.usage)))
        return events
