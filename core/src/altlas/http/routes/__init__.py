"""Route modules, one per API of the design document."""
