"""The soak harness (``bench/soak.py``) end to end on its shortest scenarios, so that it
keeps working: ``streams`` (streamed chats whose clients hang up after the first event)
and ``sigterm`` (a shutdown during a long request), both on the echo fixture plugin,
against a real ``altlas serve`` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STREAMS = 10


def test_soak_harness_streams_and_sigterm(installed_fixture_plugins: Path, tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    command = [sys.executable, str(REPO / "bench" / "soak.py"), "--scenario", "streams,sigterm"]
    command += ["--streams", str(STREAMS), "--echo-plugin", str(installed_fixture_plugins)]
    command += ["--json", str(report)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads(report.read_text())
    # The printed table has a row per scenario.
    assert "| streams |" in finished.stdout and "| sigterm |" in finished.stdout

    streamed = results["streams"]
    # Every stream and the chat after them answered 200; nothing lost, no slot held.
    assert streamed["tally"]["by_status"] == {"200": STREAMS + 1}
    assert streamed["tally"]["unanswered"] == 0
    assert streamed["tally"]["unexpected_5xx"] == 0
    assert streamed["slots"]["leaked"] == 0
    assert streamed["figures"]["normal_chat_after"] == 200
    assert sum(streamed["figures"]["clients_left"].values()) == STREAMS
    assert streamed["rss"]["baseline_mb"] > 0

    stopped = results["sigterm"]
    # The long request got a response (whatever its status) and the process exited
    # cleanly: uvicorn ends by re-raising the signal it stopped on.
    assert stopped["tally"]["unanswered"] == 0
    assert stopped["figures"]["long_request"].split()[0].isdigit()
    assert stopped["figures"]["exit_status"] in {"0", "SIGTERM"}
