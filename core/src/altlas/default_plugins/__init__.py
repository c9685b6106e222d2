"""Built-in behaviour, registered as ordinary plugins through the same manager."""
