"""Helpers that tests share: waits with deadlines and the set-ups of several test modules.

Test modules import from here (or from a conftest's fixtures), never from one another.
"""
