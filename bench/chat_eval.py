"""A small fixed evaluation of chat models: 40 short questions with exact answers.

    .venv/bin/python bench/chat_eval.py NAME=PATH.gguf [NAME=PATH.gguf ...]
        [--threads 2] [--chat-template NAME=FILE.jinja] [--json OUT.json]

Each model answers every question through llama-cpp-python's chat completion with its
GGUF's own chat template (or the template given for it), greedy (temperature 0), at most
48 new tokens, ``n_threads`` as given (2 by default: what the catalog's ``latency_ms``
tags assume). The questions are facts, arithmetic and following a format (one word,
upper case, a number only, a list); each has one or more accepted answers.

Scoring, by normalised match: the answer and the accepted forms are lower-cased, their
punctuation and extra spaces removed; a question scores when an accepted form appears
in the answer as whole words (``exact`` questions, the format ones, must equal an
accepted form instead). The score is the fraction of questions answered right.

Also measured: decode tokens/s (completion tokens over the time after the first token,
summed over all questions), and the median latency of a whole answer in ms, both in wall
time and in the process's CPU time. On a machine busy with other work the wall figures
measure the contention (llama.cpp's threads wait for each other at every step); with
``--threads 1`` the CPU-time figures are what one free core gives, whatever the load,
and two free cores give up to twice the tokens/s. Printed as one table row per model;
``--json`` writes the rows and each model's answers.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYSTEM = "You are a helpful assistant. Answer briefly."


@dataclass(frozen=True)
class Question:
    """A prompt and its accepted answers; ``exact``: the whole answer must be one."""

    prompt: str
    answers: tuple[str, ...]
    exact: bool = False


def q(prompt: str, *answers: str, exact: bool = False) -> Question:
    return Question(prompt, answers, exact)


QUESTIONS: tuple[Question, ...] = (
    # facts
    q("What is the capital of France?", "paris"),
    q("What is the capital of Japan?", "tokyo"),
    q("What is the capital of Italy?", "rome"),
    q("What is the capital of Canada?", "ottawa"),
    q("What is the capital of Australia?", "canberra"),
    q("Which planet is known as the Red Planet?", "mars"),
    q("What is the largest planet in the solar system?", "jupiter"),
    q("What is the chemical symbol for gold?", "au"),
    q("What is the chemical formula of water?", "h2o"),
    q("How many continents are there on Earth?", "7", "seven"),
    q("Who wrote the play Romeo and Juliet?", "shakespeare"),
    q("In which country are the pyramids of Giza?", "egypt"),
    q("What is the boiling point of water at sea level in degrees Celsius?", "100"),
    q("What gas do plants absorb from the air for photosynthesis?", "carbon dioxide", "co2"),
    q("What is the largest ocean on Earth?", "pacific"),
    q("How many days are there in a leap year?", "366"),
    q("What language is mainly spoken in Brazil?", "portuguese"),
    q("What is the freezing point of water in degrees Fahrenheit?", "32"),
    q("Which animal is known as the king of the jungle?", "lion"),
    q("What is the smallest prime number?", "2", "two"),
    # arithmetic
    q("What is 7 + 5?", "12", "twelve"),
    q("What is 9 times 8?", "72"),
    q("What is 100 minus 37?", "63"),
    q("What is 144 divided by 12?", "12", "twelve"),
    q("What is 15 + 27?", "42"),
    q("What is 6 squared?", "36"),
    q("What is half of 90?", "45"),
    q("How many minutes are in 3 hours?", "180"),
    q("What is 25 percent of 200?", "50"),
    q("What is 13 times 3?", "39"),
    # following a format
    q("Answer with one word only: what colour is a clear daytime sky?", "blue", exact=True),
    q("Reply with only the number, no words: what is 2 + 2?", "4", exact=True),
    q("Write the word 'hello' in upper case letters only, nothing else.", "hello", exact=True),
    q("Reply with only 'yes' or 'no': is the sun a star?", "yes", exact=True),
    q("Reply with only 'yes' or 'no': is ice hotter than boiling water?", "no", exact=True),
    q(
        "List the first three letters of the English alphabet, separated by commas, and "
        "nothing else.",
        "a b c",
        "abc",
        exact=True,
    ),
    q("Reply with only the number: how many legs does a spider have?", "8", exact=True),
    q("Answer with one word only: what is the opposite of 'hot'?", "cold", exact=True),
    q("Reply with only the country name: where is the Eiffel Tower?", "france", exact=True),
    q("Answer with one word only: what do bees make?", "honey", exact=True),
)


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def correct(question: Question, answer: str) -> bool:
    """Whether ``answer`` is right by normalised match (see the module's docstring)."""
    said = normalise(answer)
    for accepted in question.answers:
        form = normalise(accepted)
        if question.exact:
            if said == form:
                return True
        elif re.search(rf"(^| ){re.escape(form)}( |$)", said):
            return True
    return False


@dataclass
class Result:
    """One model's run: score, speed and answers."""

    name: str
    size_mb: float
    right: int = 0
    decode_tokens: int = 0
    decode_s: float = 0.0
    decode_cpu_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "score": round(self.right / len(QUESTIONS), 3),
            "right": self.right,
            "questions": len(QUESTIONS),
            "decode_tok_s": round(self.decode_tokens / self.decode_s, 1) if self.decode_s else 0,
            "median_latency_ms": round(statistics.median(self.latencies_ms)),
            "decode_tok_per_cpu_s": round(self.decode_tokens / self.decode_cpu_s, 1)
            if self.decode_cpu_s
            else 0,
            "median_cpu_ms": round(statistics.median(self.cpu_ms)),
            "size_mb": round(self.size_mb),
        }


def evaluate(name: str, path: Path, threads: int, template: str | None) -> Result:
    """Run every question through one model."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = Llama(model_path=str(path), n_ctx=1024, n_threads=threads, verbose=False)
    if template is not None:
        eos = llama.detokenize([llama.token_eos()]).decode()
        bos = llama.detokenize([llama.token_bos()]).decode()
        handler = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos).to_chat_handler()
        llama.chat_handler = handler
    result = Result(name, path.stat().st_size / 1e6)
    for question in QUESTIONS:
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question.prompt},
        ]
        started, cpu_started = time.perf_counter(), time.process_time()
        first: float | None = None
        first_cpu = 0.0
        text, tokens = "", 0
        for chunk in llama.create_chat_completion(
            messages, temperature=0.0, max_tokens=48, stream=True, seed=0
        ):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                if first is None:
                    first, first_cpu = time.perf_counter(), time.process_time()
                else:
                    tokens += 1
                text += piece
        ended, cpu_ended = time.perf_counter(), time.process_time()
        result.latencies_ms.append((ended - started) * 1000)
        result.cpu_ms.append((cpu_ended - cpu_started) * 1000)
        if first is not None and tokens:
            result.decode_tokens += tokens
            result.decode_s += ended - first
            result.decode_cpu_s += cpu_ended - first_cpu
        ok = correct(question, text)
        result.right += ok
        result.answers.append({"prompt": question.prompt, "answer": text.strip(), "right": ok})
    llama.close()
    return result


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep:
            sys.exit(f"{what} must be NAME=PATH, got {value!r}")
        pairs[name] = rest
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="NAME=PATH.gguf")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chat-template", action="append", default=[], help="NAME=FILE")
    parser.add_argument("--json", type=Path, help="write rows and answers here")
    args = parser.parse_args()
    templates = {
        k: Path(v).read_text() for k, v in _pairs(args.chat_template, "--chat-template").items()
    }
    results = []
    print(
        "| model | score | decode tok/s | median latency ms | decode tok/CPU-s "
        "| median CPU ms | size MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, path in _pairs(args.models, "a model").items():
        result = evaluate(name, Path(path), args.threads, templates.get(name))
        row = result.row()
        results.append(result)
        print(
            f"| {name} | {row['score']:.3f} ({row['right']}/{row['questions']}) | "
            f"{row['decode_tok_s']} | {row['median_latency_ms']} | "
            f"{row['decode_tok_per_cpu_s']} | {row['median_cpu_ms']} | {row['size_mb']} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(
            json.dumps([{**r.row(), "answers": r.answers} for r in results], indent=2)
        )


if __name__ == "__main__":
    main()
