"""Orchestrated inference: the service picks the model(s) for a request.

``wire`` holds the request and response shapes; ``candidates`` narrows the catalog to
the models that satisfy a request's constraints; a selection strategy (a plugin, see
:mod:`altlas.default_plugins.selection`) ranks them; ``orchestrator`` runs the best
one with fallback down the ranking, or several at once as an ensemble whose outputs a
combiner (:mod:`altlas.default_plugins.combiners`) merges; ``breaker`` stops trying a
model that keeps failing.
"""
