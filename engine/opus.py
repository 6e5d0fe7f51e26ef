"""Ogg Opus (RFC 7845) of mono samples: libopus through ctypes, the Ogg pages written here.

libopus is Debian's libopus0 (which FluidSynth's libsndfile and ffmpeg depend on), loaded as
discord.py loads it for voice. Each 20 ms frame is one call into libopus, during which ctypes lets
go of the GIL: a generation's clips are encoded on every core at once. (PyAV's libopus held the
GIL for most of an encode, so its clips were encoded one at a time whatever the pool; libsndfile's
own Opus encoder took about ten times as long.) The file is the same bytes for the same samples: a
fixed stream serial number and no date.

A long file (a tune) is encoded in parts of at most PART_S, each by its own encoder on its own
core, and the parts' packets follow each other in one stream. An encoder that started cold where
its part starts would not know what the decoder knows from the part before (CELT predicts each
frame's band energies from the last), which measured as a glitch 16-30 dB over the coding noise at
the seam. So each part after the first starts PREROLL_FRAMES (200 ms) early, whose packets are
dropped, and codes its first kept frame without prediction (an intra frame): at the seams the
coding noise then measured within 0.3 dB of an encoder running through (tests/engine/test_opus.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
import math
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

RATE = 48_000  # Opus codes at 48 kHz (and 24, 16, 12, 8); granule positions count at 48 kHz
RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
FRAME_S = 0.02  # Discord's voice sends one packet every 20 ms: the bot passes these through as they are
APPLICATION_AUDIO = 2049
SET_BITRATE, SET_VBR, SET_COMPLEXITY, SET_SIGNAL, GET_LOOKAHEAD = 4002, 4006, 4010, 4024, 4027
SET_PREDICTION_DISABLED = 4042
SIGNAL_MUSIC = 3002
MAX_PACKET = 4000  # bytes: libopus's recommended bound for one packet
SERIAL = 0x4D422021  # the Ogg stream's serial number: fixed, so the same clip gives the same bytes
PAGE_PACKETS = 50  # about a second of audio a page: a browser finds the duration and seeks by pages
INSTALL = "libopus is not installed: apt-get install libopus0"
PART_S = 20.0  # a file longer than this is encoded in parts, each on its own core (a 16-bar tune: 2)
PREROLL_FRAMES = 10  # a part after the first starts this many frames early, and drops them


class OpusUnavailable(RuntimeError):
    """libopus is missing; the message says what to install."""


@functools.cache
def _library() -> Any:
    name = ctypes.util.find_library("opus")
    if name is None:
        raise OpusUnavailable(INSTALL)
    library = ctypes.CDLL(name)  # CDLL: every call lets go of the GIL
    library.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    library.opus_encoder_create.restype = ctypes.c_void_p
    library.opus_encoder_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int]  # variadic: one int or pointer follows
    library.opus_encoder_ctl.restype = ctypes.c_int
    library.opus_encode_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                          ctypes.c_int32]
    library.opus_encode_float.restype = ctypes.c_int32
    library.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    library.opus_get_version_string.restype = ctypes.c_char_p
    return library


def version() -> str:
    """libopus's own version string ("libopus 1.3.1"); OpusUnavailable when it is missing."""
    return str(_library().opus_get_version_string().decode())


def encode(samples: NDArray[np.float32], sample_rate: int, bitrate: int, complexity: int) -> bytes:
    """`samples` (mono, float in [-1, 1]) as an Ogg Opus file at `bitrate` bits a second (variable) and
    libopus's `complexity` (0-10). Its duration is exactly the samples' (the end is trimmed by the granule).
    Longer than PART_S, it is encoded in parts on every core."""
    if sample_rate not in RATES:
        raise ValueError(f"Opus is encoded at {', '.join(map(str, RATES))} Hz, not {sample_rate}")
    library = _library()
    lookahead = _lookahead(sample_rate)
    scale = RATE // sample_rate  # granule positions and the pre-skip count 48 kHz samples
    frame = round(FRAME_S * sample_rate)
    # The encoder's delay: its last `lookahead` samples come out only with what follows them.
    needed = len(samples) + lookahead
    pcm = np.zeros(-(-needed // frame) * frame, dtype=np.float32)
    pcm[: len(samples)] = samples
    frames = len(pcm) // frame
    parts = max(1, math.ceil(len(samples) / sample_rate / PART_S))
    bounds = [frames * index // parts for index in range(parts + 1)]
    settings = (library, pcm, frame, sample_rate, bitrate, complexity)
    if parts == 1:
        packets = _packets(*settings, 0, frames)
    else:
        jobs = [_pool().submit(_packets, *settings, first, last) for first, last in itertools.pairwise(bounds)]
        packets = [packet for job in jobs for packet in job.result()]
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, lookahead * scale, sample_rate, 0, 0)
    vendor = version().encode()
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    return ogg_stream(head, tags, packets, frame * scale, (lookahead + len(samples)) * scale)


def _packets(library: Any, pcm: NDArray[np.float32], frame: int, sample_rate: int, bitrate: int, complexity: int,
             first: int, last: int) -> list[bytes]:
    """The packets of frames `first` to `last` of `pcm` by an encoder of their own (see the module's docstring)."""
    error = ctypes.c_int()
    encoder = library.opus_encoder_create(sample_rate, 1, APPLICATION_AUDIO, ctypes.byref(error))
    if error.value != 0 or not encoder:
        raise RuntimeError(f"libopus could not make an encoder (error {error.value})")
    try:
        for request, value in ((SET_BITRATE, bitrate), (SET_VBR, 1), (SET_COMPLEXITY, complexity),
                               (SET_SIGNAL, SIGNAL_MUSIC)):
            if library.opus_encoder_ctl(encoder, request, ctypes.c_int32(value)) != 0:
                raise ValueError(f"libopus refused setting {request} to {value}")
        start = max(0, first - PREROLL_FRAMES)
        out = ctypes.create_string_buffer(MAX_PACKET)
        packets = []
        for index in range(start, last):
            intra = index == first and first > 0
            if intra:
                library.opus_encoder_ctl(encoder, SET_PREDICTION_DISABLED, ctypes.c_int32(1))
            size = library.opus_encode_float(encoder, pcm.ctypes.data + 4 * index * frame, frame, out, MAX_PACKET)
            if intra:
                library.opus_encoder_ctl(encoder, SET_PREDICTION_DISABLED, ctypes.c_int32(0))
            if size < 0:
                raise RuntimeError(f"libopus failed to encode (error {size})")
            if index >= first:
                packets.append(out.raw[:size])
        return packets
    finally:
        library.opus_encoder_destroy(encoder)


@functools.cache
def _lookahead(sample_rate: int) -> int:
    """The encoder's delay in samples at `sample_rate` (the pre-skip a decoder drops)."""
    library = _library()
    error = ctypes.c_int()
    encoder = library.opus_encoder_create(sample_rate, 1, APPLICATION_AUDIO, ctypes.byref(error))
    if error.value != 0 or not encoder:
        raise RuntimeError(f"libopus could not make an encoder (error {error.value})")
    try:
        # The delay with the settings `encode` uses (it depends on the application, not the rate or complexity).
        library.opus_encoder_ctl(encoder, SET_SIGNAL, ctypes.c_int32(SIGNAL_MUSIC))
        lookahead = ctypes.c_int32()
        library.opus_encoder_ctl(encoder, GET_LOOKAHEAD, ctypes.byref(lookahead))
        return int(lookahead.value)
    finally:
        library.opus_encoder_destroy(encoder)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Threads for the parts of long files: they only encode, never wait on each other."""
    return ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="opus")


def ogg_stream(head: bytes, tags: bytes, packets: list[bytes], packet_samples: int, end_granule: int) -> bytes:
    """The Ogg pages of one Opus stream: the head and the tags on pages of their own, then the audio
    packets, up to PAGE_PACKETS a page, each page's granule the 48 kHz samples decoded by its end, the
    last one `end_granule`."""
    pages = [_page([head], granule=0, sequence=0, first=True), _page([tags], granule=0, sequence=1)]
    chunk: list[bytes] = []
    segments = done = 0
    for index, packet in enumerate(packets):
        chunk.append(packet)
        segments += len(packet) // 255 + 1
        done += 1
        following = packets[index + 1] if index + 1 < len(packets) else None
        if following is None or len(chunk) == PAGE_PACKETS or segments + len(following) // 255 + 1 > 255:
            granule = end_granule if following is None else done * packet_samples
            pages.append(_page(chunk, granule=granule, sequence=len(pages), last=following is None))
            chunk, segments = [], 0
    return b"".join(pages)


def _page(packets: list[bytes], granule: int, sequence: int, first: bool = False, last: bool = False) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    if len(lacing) > 255:
        raise ValueError("an Ogg page holds at most 255 segments")
    flags = (2 if first else 0) | (4 if last else 0)
    header = b"OggS" + struct.pack("<BBqIIIB", 0, flags, granule, SERIAL, sequence, 0, len(lacing)) + bytes(lacing)
    page = header + b"".join(packets)
    return page[:22] + struct.pack("<I", ogg_crc(page)) + page[26:]


_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, MSB first, no reflection, start 0, no final xor).

    zlib's CRC-32 is the same polynomial reflected: on bit-reversed bytes, starting from a zero
    register, it gives the bit-reversed Ogg CRC, at C speed.
    """
    register = ~zlib.crc32(data.translate(_REVERSED), 0xFFFFFFFF) & 0xFFFFFFFF
    return int(f"{register:032b}"[::-1], 2)
