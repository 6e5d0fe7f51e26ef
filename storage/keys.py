"""The key names that several concepts of the store share; each concept names its own keys in its module.

All keys start with "mb:" so that a Redis shared with other applications stays tidy; only
storage/ builds key names. What hangs off a breed or one of its generations (votes, nudges,
posting markers, locks) starts with the breed's prefix, so a breed's keys read together in redis-cli.
A generation's artifact key is shared too: the gallery keeps a winner's files under the breed's own key.
"""

from __future__ import annotations

from storage.media import media_key

PREFIX = "mb:"


def breed_prefix(breed_id: str) -> str:
    """What every key of a breed starts with (and the key of its JSON, storage.breeds)."""
    return f"{PREFIX}breed:{breed_id}"


def generation_prefix(breed_id: str, number: int) -> str:
    """What every key of a generation starts with (and the key of its JSON, storage.breeds)."""
    return f"{breed_prefix(breed_id)}:gen:{number}"


def artifact(breed_id: str, number: int, name: str) -> str:
    """One rendered file (audio, image, MIDI) of a generation; a gallery winner's files are its breed's own."""
    return f"{generation_prefix(breed_id, number)}:artifact:{name}"


def artifact_media(breed_id: str, number: int, name: str) -> str:
    """Where a generation's rendered audio or image lives in the media store (a gallery winner's: its breed's)."""
    return media_key("breed", breed_id, number, name)
