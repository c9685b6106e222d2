"""OpenAI compatibility: OpenAI's wire types (:mod:`.types`), the translation between
them and the service's tasks (:mod:`.translate`), streaming events
(:mod:`.streaming`) and OpenAI-style errors (:mod:`.errors`). The routes live in
:mod:`altlas.http.routes.openai`; other ``/v1`` route modules reuse these."""
