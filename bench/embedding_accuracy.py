"""Measure the two default embedding models: paraphrase retrieval accuracy and latency.

The figures behind the ``accuracy`` and ``latency_ms`` tags of ``all-minilm-l6-v2`` and
``paraphrase-minilm-l3-v2`` in the onnx plugin's catalog. Each of the 40 sentences
below has one paraphrase among 65 candidates (the 40 paraphrases and 25 sentences that
share its words but not its meaning); accuracy is the share of sentences whose nearest
candidate (cosine) is their own paraphrase. Latency: the median of 50 in-process calls
of 3 sentences, each with ``cache=False`` (and no response cache at all): the same three
sentences again would otherwise be cache hits. Each response is checked to have run the
model (``from_cache`` false, ``timing.inference_ms`` above 0); the run stops with an
error otherwise.

    python bench/embedding_accuracy.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

from model_path import check_response

from altlas.config import Settings
from altlas.runtime import Runtime
from altlas_sdk import InferenceRequest

PAIRS: list[tuple[str, str]] = [
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("Stock prices fell sharply today.", "The markets dropped steeply this afternoon."),
    ("How do I reset my password?", "What are the steps to change a forgotten login code?"),
    ("The train to Paris was delayed.", "Our rail service to the French capital ran late."),
    ("She bought a new car yesterday.", "Yesterday she purchased a brand-new automobile."),
    ("It is raining heavily outside.", "There is a downpour out there."),
    ("The meeting was moved to Friday.", "We rescheduled the gathering for the end of the week."),
    ("He broke his leg while skiing.", "Skiing left him with a fractured leg."),
    ("The restaurant serves excellent pasta.", "That eatery makes wonderful noodles."),
    ("My laptop battery drains quickly.", "The notebook computer loses charge fast."),
    ("The children played in the park.", "Kids were having fun at the playground."),
    ("Turn left at the next traffic light.", "At the upcoming signal, make a left."),
    ("The museum opens at nine.", "The gallery starts admitting visitors at 9 a.m."),
    ("I cannot find my keys anywhere.", "My keys seem to be lost."),
    ("The company hired twenty new engineers.", "The firm took on 20 additional developers."),
    ("Water boils at one hundred degrees.", "At 100 °C water starts to boil."),
    ("The concert was cancelled due to rain.", "Bad weather called off the show."),
    ("Please send me the report by noon.", "I need the document before midday."),
    ("The dog barked at the mailman.", "The postman got barked at by the hound."),
    ("She is learning to play the violin.", "She takes fiddle lessons."),
    ("The bridge was closed for repairs.", "Maintenance work shut the overpass."),
    ("Our flight landed safely in Tokyo.", "The plane touched down without trouble in Japan."),
    ("The soup is too salty.", "There is far too much salt in this broth."),
    ("He won the chess tournament.", "He came first in the chess competition."),
    ("The printer is out of paper.", "There are no sheets left in the printer tray."),
    ("Vaccines help prevent disease.", "Immunization protects people from illness."),
    ("The river flooded the village.", "The town was inundated when the stream overflowed."),
    ("I will call you tomorrow morning.", "Expect a phone call from me early tomorrow."),
    ("The movie was incredibly boring.", "That film was extremely dull."),
    ("The shop closes early on Sundays.", "On Sunday the store shuts ahead of the usual time."),
    ("Scientists discovered a new planet.", "Astronomers found a previously unknown world."),
    ("The baby is crying loudly.", "The infant is wailing."),
    ("Prices rose by five percent last year.", "Last year inflation was 5%."),
    ("She forgot her umbrella at home.", "She left her brolly in the house."),
    ("The software update fixed the bug.", "The patch resolved the defect in the program."),
    ("The garden is full of roses.", "Roses fill the yard."),
    ("He apologized for being late.", "He said sorry for his tardiness."),
    ("The library has thousands of books.", "The library holds a huge collection of volumes."),
    ("The road is icy and dangerous.", "Frozen pavement makes driving hazardous."),
    ("They got married in June.", "Their wedding took place in the summer month of June."),
]

#: Candidates that share words with a sentence but not its meaning.
DISTRACTORS: list[str] = [
    "The sofa was sold because the cat scratched it.",
    "Stock up on food before prices rise today.",
    "The password to the meeting room is on the door.",
    "Paris was delayed in building its new train station.",
    "She sold her old car to buy a bicycle yesterday.",
    "The rain stopped and we played outside.",
    "Friday's meeting was about moving offices.",
    "He skied down the hill without breaking a sweat.",
    "The restaurant ran out of pasta before we arrived.",
    "My laptop battery lasts the whole day.",
    "The park was closed, so the children stayed home.",
    "The traffic light at the corner is broken.",
    "The museum is nine minutes away by bus.",
    "The keys of this piano are out of tune.",
    "The engineers left the company after twenty years.",
    "Boiling water costs one hundred times more energy.",
    "The rain did not stop the concert.",
    "The report says noon is the busiest hour.",
    "The mailman's dog is very friendly.",
    "The violin she is playing is very old.",
    "The repairs to the bridge finished early.",
    "Tokyo has many safe flights every day.",
    "Salt makes the soup taste better.",
    "He lost the chess game in ten moves.",
    "Paper jams are the printer's most common problem.",
]

MODELS = ("all-minilm-l6-v2", "paraphrase-minilm-l3-v2")


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # vectors are unit length


async def measure(runtime: Runtime, model_id: str) -> tuple[float, float]:
    """(retrieval accuracy@1, median ms per 3-sentence call) for ``model_id``."""
    service = runtime.inference
    queries = [q for q, _ in PAIRS]
    targets = [t for _, t in PAIRS] + DISTRACTORS
    out = await service.run_inference(
        InferenceRequest(model_id=model_id, inputs=queries + targets, cache=False)
    )
    vectors = out.outputs.embeddings
    q_vecs, t_vecs = vectors[: len(PAIRS)], vectors[len(PAIRS) :]
    hits = 0
    for index, q in enumerate(q_vecs):
        best = max(range(len(t_vecs)), key=lambda j: _cosine(q, t_vecs[j]))
        hits += best == index
    times = []
    for _ in range(50):
        started = time.perf_counter()
        response = await service.run_inference(
            InferenceRequest(model_id=model_id, inputs=queries[:3], cache=False)
        )
        times.append((time.perf_counter() - started) * 1000)
        answer = {"from_cache": response.from_cache, "timing": {"inference_ms": 0.0}}
        answer["timing"]["inference_ms"] = response.timing.inference_ms
        check_response(f"{model_id} latency", answer)
    return hits / len(PAIRS), statistics.median(times)


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        runtime = Runtime(
            Settings.load(
                environ={
                    "MODEL_DIR": folder,
                    "CACHE_DIR": folder,
                    "ALTLAS_LOAD_PLUGINS": "onnx",
                    "RESPONSE_CACHE": "",
                }
            )
        )
        await runtime.start()
        try:
            results = {m: await measure(runtime, m) for m in MODELS}
        finally:
            await runtime.stop()
    print(f"{'model':26} {'accuracy@1':>10} {'ms/call (3 sentences)':>22}")
    for model_id, (accuracy, ms) in results.items():
        print(f"{model_id:26} {accuracy:10.3f} {ms:22.2f}")
    (a_acc, a_ms), (b_acc, b_ms) = results[MODELS[0]], results[MODELS[1]]
    print(f"ratio L3/L6: accuracy {b_acc / a_acc:.2f}x, latency {b_ms / a_ms:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
