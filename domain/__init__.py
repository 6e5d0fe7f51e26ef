"""The domain: what a breed is, its limits, its strategies and its rules. Standard library only.

Every other layer imports from here; this package imports nothing of the project's.
"""
