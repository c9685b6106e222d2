"""Tool calling for chat completions: OpenAI's ``tools`` into the ``chat`` task and back.

The service tells the model about the tools itself, in the words of the Hermes format
that Qwen's, Hermes' and SmolLM's chat templates use (a ``# Tools`` section in the system
message listing each function's JSON signature inside ``<tools></tools>``), so that any
chat model can take part, whatever its template knows. The conversation's earlier calls
become ``<tool_call>`` blocks in the assistant's turns, and the ``tool`` messages become
``<tool_response>`` blocks in a user turn, as those templates write them.

What the model may write is constrained with
:class:`~altlas_sdk.tool_calls.ToolCallFormat` (``tool_choice``: ``auto``, calls or
text; ``required``, calls; a named function, a call of that one; ``none``, text and no
tools described), so that each call parses and its arguments validate against the
function's schema. The reply is parsed back into OpenAI's ``tool_calls``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from altlas.openai.types import (
    ChatCompletionMessageParam,
    ChatCompletionRequest,
    ChatCompletionTool,
    FunctionCall,
    MessageToolCall,
    NamedToolChoice,
)
from altlas_sdk.errors import BadRequest
from altlas_sdk.tasks import ChatMessage
from altlas_sdk.tool_calls import CLOSE, OPEN, ParsedCall, ToolCallFormat, parse_tool_calls

DEFAULT_SYSTEM = "You are a helpful assistant."

_INSTRUCTIONS = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    "{tools}\n</tools>\n\nFor each function call, return a json object with function name "
    "and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-json-object>}}\n</tool_call>'
)


def _chosen(body: ChatCompletionRequest) -> list[ChatCompletionTool]:
    """The tools the model may call under ``tool_choice``."""
    tools = body.tools or []
    choice = body.tool_choice
    if not isinstance(choice, NamedToolChoice):
        return tools
    named = [tool for tool in tools if tool.function.name == choice.function.name]
    if not named:
        raise BadRequest(
            f"tool_choice names the function '{choice.function.name}', which is not in tools",
            param="$.tool_choice.function.name",
        )
    return named


def _call_schema(tool: ChatCompletionTool) -> dict[str, Any]:
    arguments = tool.function.parameters or {"type": "object", "properties": {}}
    return {
        "type": "object",
        "properties": {"name": {"const": tool.function.name}, "arguments": arguments},
        "required": ["name", "arguments"],
    }


def call_format(body: ChatCompletionRequest) -> ToolCallFormat | None:
    """The constraint on the reply that ``tools`` and ``tool_choice`` ask for; ``None``
    when the model is to answer in text only (no tools, or ``tool_choice: "none"``)."""
    if body.tool_choice not in (None, "none", "auto") and not body.tools:
        raise BadRequest("tool_choice needs tools", param="$.tool_choice")
    if not body.tools or body.tool_choice == "none":
        return None
    if body.response_format is not None and body.response_format.type != "text":
        raise BadRequest(
            "give tools or a JSON response_format, not both", param="$.response_format"
        )
    tools = _chosen(body)
    schemas = [_call_schema(tool) for tool in tools]
    named = isinstance(body.tool_choice, NamedToolChoice)
    return ToolCallFormat(
        call_schema=schemas[0] if len(schemas) == 1 else {"anyOf": schemas},
        parallel=body.parallel_tool_calls is not False and not named,
        required=body.tool_choice is not None and body.tool_choice != "auto",
    )


def _tools_prompt(tools: list[ChatCompletionTool]) -> str:
    described = "".join(
        "\n" + json.dumps({"type": "function", "function": _builtins(tool)}, ensure_ascii=False)
        for tool in tools
    )
    return _INSTRUCTIONS.format(tools=described)


def _builtins(tool: ChatCompletionTool) -> dict[str, Any]:
    function = tool.function
    fields = {
        "name": function.name,
        "description": function.description,
        "parameters": function.parameters,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _call_text(call: MessageToolCall, param: str) -> str:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except json.JSONDecodeError:
        raise BadRequest(
            "a tool call's arguments must be a JSON object", param=f"{param}.function.arguments"
        ) from None
    payload = {"name": call.function.name, "arguments": arguments}
    return OPEN + json.dumps(payload, ensure_ascii=False) + CLOSE


def conversation(
    body: ChatCompletionRequest, texts: list[str | None], described: bool
) -> list[ChatMessage]:
    """The ``chat`` task's messages: ``texts`` holds each message's text content (see
    :func:`altlas.openai.translate.chat_request`); ``described``: put the tools' section
    in the system message."""
    messages: list[ChatMessage] = []
    for index, (message, text) in enumerate(zip(body.messages, texts, strict=True)):
        content = _content(message, text, index)
        if message.role == "tool" and index > 0 and body.messages[index - 1].role == "tool":
            # Consecutive results share one user turn, as the templates write them.
            messages[-1] = ChatMessage(role="user", content=messages[-1].content + "\n" + content)
            continue
        role = "system" if message.role == "developer" else message.role
        messages.append(ChatMessage(role="user" if role == "tool" else role, content=content))
    if described and body.tools:
        section = _tools_prompt(_chosen(body))
        if messages[0].role == "system":
            messages[0] = ChatMessage(role="system", content=messages[0].content + section)
        else:
            messages.insert(0, ChatMessage(role="system", content=DEFAULT_SYSTEM + section))
    return messages


def _content(message: ChatCompletionMessageParam, text: str | None, index: int) -> str:
    param = f"$.messages[{index}]"
    if message.role == "tool":
        if message.tool_call_id is None:
            raise BadRequest("a tool message needs tool_call_id", param=f"{param}.tool_call_id")
        return f"<tool_response>\n{text or ''}\n</tool_response>"
    if message.tool_calls:
        if message.role != "assistant":
            raise BadRequest("only assistant messages carry tool_calls", param=param)
        calls = [
            _call_text(call, f"{param}.tool_calls[{position}]")
            for position, call in enumerate(message.tool_calls)
        ]
        return "\n".join([text, *calls] if text else calls)
    if text is None:
        raise BadRequest("message content is required", param=f"{param}.content")
    return text


def tool_calls(parsed: list[ParsedCall]) -> list[MessageToolCall]:
    """OpenAI's ``tool_calls`` for the calls read from a reply, each with a new id."""
    return [
        MessageToolCall(
            id=f"call_{secrets.token_hex(12)}",
            function=FunctionCall(name=call.name, arguments=call.arguments),
        )
        for call in parsed
    ]


def read_calls(text: str) -> list[ParsedCall]:
    """The complete calls in a reply, or none when a block does not parse (a backend
    that could not apply the constraint): the reply then stays text."""
    try:
        return parse_tool_calls(text)
    except ValueError:
        return []
