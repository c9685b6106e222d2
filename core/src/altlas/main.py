"""``uvicorn altlas.main:app``: the service configured from the environment."""

from altlas.http.app import create_app

app = create_app()
