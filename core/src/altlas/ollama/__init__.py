"""The Ollama-compatible API: wire types (:mod:`.types`), model names
(:mod:`.names`), translation to the tasks (:mod:`.translate`) and model pulls
(:mod:`.pull`). The routes are :mod:`altlas.http.routes.ollama`."""
