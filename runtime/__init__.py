"""What every process uses: settings, logging, the embedded Redis, signals, child processes, exit codes.

A leaf: it may import the domain (for limits) and nothing else of the project; anything may import it.
"""
