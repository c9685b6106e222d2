"""``altlas keys create|list|revoke`` as real subprocesses, against a real server that
picks the changes up without a restart."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ALTLAS = str(Path(sys.executable).parent / "altlas")


def altlas(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALTLAS, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(base_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**base_env, "AUTH_KEYS_FILE": str(tmp_path / "secrets" / "keys.toml")}


def test_create_list_and_revoke_a_key(env):
    path = Path(env["AUTH_KEYS_FILE"])
    created = altlas(
        env,
        "keys",
        "create",
        "ci",
        "--scope",
        "inference",
        "--scope",
        "metrics",
        "--rate-limit",
        "120/minute",
        "--max-concurrency",
        "4",
        "--models",
        "echo-*",
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("altlas-") and len(key) > 40
    assert "cannot be shown again" in created.stderr
    # Only the hash is stored, in a file only its owner reads.
    text = path.read_text()
    assert key not in text and 'hash = "sha256:' in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    listed = altlas(env, "keys", "list")
    assert listed.returncode == 0
    line = listed.stdout.strip()
    assert line.startswith("ci ") and "scopes=inference,metrics" in line
    assert "rate_limit=120/minute" in line and "models=echo-*" in line
    full_hash = text.split('hash = "sha256:')[1][:64]
    assert full_hash not in listed.stdout and full_hash[:8] in listed.stdout

    again = altlas(env, "keys", "create", "ci", "--scope", "admin")
    assert again.returncode == 1 and "exists" in again.stderr

    revoked = altlas(env, "keys", "revoke", "ci")
    assert revoked.returncode == 0
    assert altlas(env, "keys", "list").stdout.strip() == ""
    assert altlas(env, "keys", "revoke", "ci").returncode == 1

    lines = (Path(env["CACHE_DIR"]) / "audit.log").read_text().splitlines()
    audit = [json.loads(line) for line in lines]
    assert [(e["action"], e["key"]) for e in audit] == [
        ("keys.create", "ci"),
        ("keys.revoke", "ci"),
    ]
    assert all(e["who"].startswith("cli:") for e in audit)


def test_bad_arguments_are_refused_before_the_file_is_touched(env, base_env):
    bad_rate = altlas(env, "keys", "create", "x", "--scope", "inference", "--rate-limit", "lots")
    assert bad_rate.returncode == 2 and "rate_limit" in bad_rate.stderr
    bad_name = altlas(env, "keys", "create", "no.dots", "--scope", "inference")
    assert bad_name.returncode == 2
    assert not Path(env["AUTH_KEYS_FILE"]).exists()
    no_file = altlas(base_env, "keys", "list")
    assert no_file.returncode == 2 and "AUTH_KEYS_FILE" in no_file.stderr


def test_a_running_server_accepts_a_created_key_and_refuses_it_once_revoked(env, run_server):
    def serve(port: int) -> list[str]:
        return [ALTLAS, "serve", "--port", str(port)]

    created = altlas(env, "keys", "create", "ops", "--scope", "admin")
    key = created.stdout.strip()
    with run_server(serve, env) as server:
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{server.base}/api/models/", headers=headers).status_code == 200
        second = altlas(env, "keys", "create", "late", "--scope", "inference").stdout.strip()
        late = {"X-API-Key": second}
        assert httpx.get(f"{server.base}/api/models/", headers=late).status_code == 200
        assert altlas(env, "keys", "revoke", "ops").returncode == 0
        assert httpx.get(f"{server.base}/api/models/", headers=headers).status_code == 401
    # The log names the key that was refused nowhere: it never prints a key.
    assert key not in server.output and second not in server.output


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("ALTLAS_API_KEY", "short", "ALTLAS_API_KEY: expected a key of at least 16 characters"),
        ("AUTH_KEYS_FILE", "[keys.ci]\nhash = 'md5:abc'\n", "[keys.ci] hash must be"),
        ("AUTH_KEYS_FILE", "[keys.ci]\nhash = 'sha256:' \n", "[keys.ci] hash must be"),
        ("AUTH_KEYS_FILE", "not toml [", "cannot be read"),
    ],
)
def test_serve_refuses_a_bad_key_setting_naming_it(base_env, tmp_path, setting, value, message):
    if setting == "AUTH_KEYS_FILE":
        path = tmp_path / "keys.toml"
        path.write_text(value)
        value = str(path)
    result = altlas({**base_env, setting: value}, "serve", "--port", "9")
    assert result.returncode == 2
    assert message in result.stderr
