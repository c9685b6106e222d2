"""In-process facades: the design document's ``get_...()`` entry points, each a thin layer
over the runtime's services, registered by ``altlas.default_plugins.facades``."""
