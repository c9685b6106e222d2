"""``GET /api/auth/whoami`` through a real server: the caller's key name and scopes."""

from __future__ import annotations

from pathlib import Path

import httpx

from altlas.http.app import create_app
from altlas.security.keys import KeyEntry, digest, write_keys_file
from altlas.security.principal import Principal
from altlas_sdk.testing.server import serving

ADMIN = "admin-key-0123456789abcdef"
INFER = "infer-key-0123456789abcdef"
WATCH = "watch-key-0123456789abcdef"


def _keys(path: Path) -> Path:
    entries = {
        name: KeyEntry(Principal(name=name, scopes=frozenset(scopes)), digest(key))
        for name, key, scopes in (
            ("ops", ADMIN, {"admin", "metrics"}),
            ("ci", INFER, {"inference"}),
            ("watch", WATCH, {"metrics"}),
        )
    }
    write_keys_file(path, entries)
    return path


def test_whoami_names_the_key_and_its_scopes_implied_ones_included(make_runtime, tmp_path):
    runtime = make_runtime(AUTH_KEYS_FILE=str(_keys(tmp_path / "keys.toml")))
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        ops = client.get("/api/auth/whoami", headers={"Authorization": f"Bearer {ADMIN}"})
        assert ops.json() == {
            "name": "ops",
            "scopes": ["admin", "inference", "metrics"],
            "keys": True,
        }
        ci = client.get("/api/auth/whoami", headers={"X-API-Key": INFER})
        assert ci.json() == {"name": "ci", "scopes": ["inference"], "keys": True}
        # Like every /api route: no key is a 401, a key without inference a 403.
        missing = client.get("/api/auth/whoami")
        assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_api_key")
        watch = client.get("/api/auth/whoami", headers={"X-API-Key": WATCH})
        assert (watch.status_code, watch.json()["error"]["code"]) == (403, "missing_scope")


def test_whoami_without_keys_is_anonymous_with_every_scope(make_runtime):
    with serving(create_app(make_runtime())) as url:
        body = httpx.get(f"{url}/api/auth/whoami").json()
    assert body == {"name": "anonymous", "scopes": ["admin", "inference", "metrics"], "keys": False}
