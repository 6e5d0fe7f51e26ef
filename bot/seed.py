"""A MIDI file that someone attaches to /breed start, to seed the breed with their melody.

Everything is checked before anything is written: name and size before downloading; the content
is parsed by the breeding service's start, once the server's limits and the member's cooldown let
them start (the same check as the terminal and the web page). Each refusal is a BreedError.
"""

from __future__ import annotations

import discord

from domain.errors import BreedError
from domain.limits import MAX_SEED_BYTES, MIDI_SUFFIXES


def check_attachment(filename: str, size: int) -> None:
    """Refuse a file that is not named like MIDI or is too big, before downloading it."""
    if not filename.lower().endswith(MIDI_SUFFIXES):
        raise BreedError(f"`{filename}` is not a MIDI file: attach a .mid file.")
    if size > MAX_SEED_BYTES:
        raise BreedError(f"`{filename}` is {size / 1024 / 1024:.1f} MiB; a seed MIDI file may be 1 MiB at most.")


async def read_seed(attachment: discord.Attachment) -> bytes:
    """Download an attached seed MIDI file named and sized like one; BreedError when it cannot be."""
    check_attachment(attachment.filename, attachment.size)
    try:
        data = await attachment.read()
    except discord.HTTPException as error:
        raise BreedError(f"Could not download `{attachment.filename}` ({error.status}); try again.") from None
    if len(data) > MAX_SEED_BYTES:  # the attachment's stated size was not its size
        raise BreedError(f"`{attachment.filename}` is over 1 MiB; a seed MIDI file may be 1 MiB at most.")
    return data
