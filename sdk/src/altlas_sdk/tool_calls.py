"""Tool calls in generated text: the constraint a backend applies, and the parser.

A chat model calls a tool by writing a block such as::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

(the format Qwen, Hermes and SmolLM chat templates teach their models). The service
describes the tools to the model and asks for calls through
:attr:`altlas_sdk.tasks.GenerationParameters.tool_calls`, a :class:`ToolCallFormat`; a
backend with grammar-constrained sampling builds one GBNF grammar from it with
:func:`tool_call_grammar`, so that every call it writes parses and its ``arguments``
validate against the function's JSON Schema. :func:`parse_tool_calls` reads the calls
back out of the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from msgspec import Struct

#: What opens and closes one call in the text.
OPEN = "<tool_call>\n"
CLOSE = "\n</tool_call>"


class ToolCallFormat(Struct, kw_only=True, forbid_unknown_fields=True):
    """Constrain generation to tool calls.

    ``call_schema``: the JSON Schema of one call object, ``{"name": ..., "arguments":
    ...}`` (an ``anyOf`` with one branch per function the model may call).
    ``parallel``: several calls may follow one another, one per line. ``required``:
    the reply must be calls; otherwise (OpenAI's ``tool_choice: "auto"``) it may instead
    be plain text, which then must not begin with ``<``, ``{`` or white space.
    """

    call_schema: dict[str, Any]
    parallel: bool = False
    required: bool = True


class ParsedCall(Struct, kw_only=True):
    """One call read from the text: the function's name and its arguments as JSON."""

    name: str
    arguments: str


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    return json.dumps(text)


def tool_call_grammar(format: ToolCallFormat, json_gbnf: Callable[[dict[str, Any]], str]) -> str:
    """The GBNF grammar of a reply made of tool calls (or, unless ``required``, of text).

    A call is written in a ``<tool_call>`` block, or bare (the JSON object alone, as
    small models often write them); several calls go one per line. ``json_gbnf`` turns a
    JSON Schema into GBNF whose start rule is ``root`` (as llama.cpp's converter,
    ``llama_cpp.llama_grammar.json_schema_to_gbnf``, does); that rule is renamed, and the
    rules added here are prefixed ``tc-`` so that they do not clash with the
    converter's."""
    call = re.sub(r"^root\s*::=", "tc-call ::=", json_gbnf(format.call_schema), flags=re.M)
    more = ' ("\\n" {0})*' if format.parallel else ""
    rules = [
        f"tc-block ::= {gbnf_literal(OPEN)} tc-call {gbnf_literal(CLOSE)}",
        "tc-calls ::= tc-block" + more.format("tc-block"),
        "tc-bare ::= tc-call" + more.format("tc-call"),
    ]
    if format.required:
        rules.insert(0, "root ::= tc-calls | tc-bare")
    else:
        rules.insert(0, "root ::= tc-calls | tc-bare | tc-text")
        rules.append("tc-text ::= [^<{ \\t\\n] .*")
    return "\n".join(rules) + "\n" + call


def starts_tool_calls(text: str) -> bool | None:
    """Whether ``text`` (the reply so far, to a request whose reply the format
    constrained) is tool calls: ``None`` while it cannot tell yet (it is empty or a
    beginning of the opening tag). Constrained text never begins with ``{``, so a reply
    that does is bare calls."""
    head = text.lstrip()
    marker = OPEN.strip()
    if head.startswith((marker, "{")):
        return True
    if marker.startswith(head):
        return None
    return False


def _call(value: Any, source: str) -> ParsedCall:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("name"), str)
        or not isinstance(value.get("arguments", {}), dict)
    ):
        raise ValueError(f"not a tool call: {source!r}")
    arguments = json.dumps(value.get("arguments", {}), ensure_ascii=False)
    return ParsedCall(name=value["name"], arguments=arguments)


def parse_tool_calls(text: str) -> list[ParsedCall]:
    """The complete calls in ``text`` (a reply that :func:`starts_tool_calls`), in order:
    its ``<tool_call>`` blocks, or the bare JSON objects it starts with.

    A call not complete yet is left out; a complete one whose JSON does not parse, or is
    not a ``{"name": str, "arguments": object}``, raises ``ValueError`` (a constrained
    reply never has one)."""
    if text.lstrip().startswith("{"):
        return _bare_calls(text)
    calls = []
    for match in re.finditer(
        re.escape(OPEN.strip()) + r"\s*(.*?)\s*" + re.escape(CLOSE.strip()), text, re.S
    ):
        calls.append(_call(json.loads(match.group(1)), match.group(1)))
    return calls


def _bare_calls(text: str) -> list[ParsedCall]:
    decoder = json.JSONDecoder()
    calls, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return calls
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            # Not complete yet (a constrained reply's objects always are in the end).
            return calls
        calls.append(_call(value, text[position:end]))
        position = end
