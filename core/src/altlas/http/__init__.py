"""The HTTP layer: a thin Starlette shell over the runtime's services."""
