"""A plugin whose import fails, to test that the service reports it and keeps going."""

raise RuntimeError("fixture plugin failed on purpose")
