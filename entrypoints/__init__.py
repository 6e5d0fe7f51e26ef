"""Composition root: the `breeder` command, settings, the embedded Redis and the supervisor."""
