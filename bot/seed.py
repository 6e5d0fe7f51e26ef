"""Checking a MIDI file that someone attaches to /breed start to seed the breed with their melody.

Everything is checked before anything is written: name, size (before downloading), then the
content with pretty_midi (engine.midi; no TensorFlow). Each refusal is a BreedError.
"""

from __future__ import annotations

import asyncio

import discord

from bot.errors import BreedError

MAX_SEED_BYTES = 1024 * 1024
MIDI_SUFFIXES = (".mid", ".midi")


def check_attachment(filename: str, size: int) -> None:
    """Refuse a file that is not named like MIDI or is too big, before downloading it."""
    if not filename.lower().endswith(MIDI_SUFFIXES):
        raise BreedError(f"`{filename}` is not a MIDI file: attach a .mid file.")
    if size > MAX_SEED_BYTES:
        raise BreedError(f"`{filename}` is {size / 1024 / 1024:.1f} MiB; a seed MIDI file may be 1 MiB at most.")


def check_content(filename: str, data: bytes) -> None:
    """Refuse a MIDI file that is too big, does not parse, or has no notes."""
    from engine.midi import MidiError, validate_upload

    try:
        validate_upload(data, MAX_SEED_BYTES)
    except MidiError as error:
        raise BreedError(f"`{filename}` cannot be used: {error}.") from None


async def read_seed(attachment: discord.Attachment) -> bytes:
    """Download and check an attached seed MIDI file; BreedError when it cannot be used."""
    check_attachment(attachment.filename, attachment.size)
    try:
        data = await attachment.read()
    except discord.HTTPException as error:
        raise BreedError(f"Could not download `{attachment.filename}` ({error.status}); try again.") from None
    # Parsing a large file takes a moment: keep the event loop free meanwhile.
    await asyncio.to_thread(check_content, attachment.filename, data)
    return data
