"""The worker: reads jobs from the jobs stream and does them with the engine's pure parts.

`worker.runner` claims, leases, times and acknowledges jobs; one handler per job kind
(`worker.handlers`) does each, with three collaborators: `melodies` (what the store and the model
know of a melody), `sounds` (audio, MIDI and images of melodies) and `results` (writing files and
telling the front ends).
"""
