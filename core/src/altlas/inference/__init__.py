"""The inference path: select -> decode -> cache -> schedule -> backend -> encode."""
