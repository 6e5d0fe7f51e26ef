"""Ogg Opus files written by engine.opus with the real libopus, read back by libsndfile and ffmpeg."""

from __future__ import annotations

import io
import struct
import subprocess

import numpy as np
import pytest
import soundfile

from engine import opus

RATE = 48_000


def tone(seconds: float = 2.0, rate: int = RATE) -> np.ndarray:
    """A decaying A4 with a click every half second: something to code, with attacks."""
    t = np.arange(round(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-(t % 0.5) * 4)
    return samples.astype(np.float32)


def pages(data: bytes) -> list[tuple[int, int, int, list[int], bytes]]:
    """Each Ogg page: its flags, granule, sequence number, lacing values and whole bytes."""
    found, at = [], 0
    while at < len(data):
        assert data[at: at + 4] == b"OggS"
        flags, granule, _serial, sequence, _crc, count = struct.unpack("<BqIIIB", data[at + 5: at + 27])
        lacing = list(data[at + 27: at + 27 + count])
        end = at + 27 + count + sum(lacing)
        found.append((flags, granule, sequence, lacing, data[at:end]))
        at = end
    return found


def reference_crc(data: bytes) -> int:
    """Ogg's CRC bit by bit, as the specification writes it."""
    register = 0
    for byte in data:
        register ^= byte << 24
        for _ in range(8):
            register = ((register << 1) ^ 0x04C11DB7) if register & 0x80000000 else register << 1
            register &= 0xFFFFFFFF
    return register


@pytest.mark.parametrize("length", [0, 1, 255, 4096])
def test_the_ogg_crc_is_the_one_the_specification_gives(length):
    data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    assert opus.ogg_crc(data) == reference_crc(data)


def test_a_clip_decodes_to_exactly_its_samples_at_48_khz_and_close_to_them():
    samples = tone()
    decoded, rate = soundfile.read(io.BytesIO(opus.encode(samples, RATE, 96_000, 2)), dtype="float32")
    assert rate == RATE and len(decoded) == len(samples)  # the encoder's delay skipped, the padding trimmed
    error = np.sqrt(np.mean((decoded - samples) ** 2) / np.mean(samples**2))
    assert error < 0.1  # about -20 dB or better: the same tone, in time (not shifted by the delay)


def test_the_pages_are_well_formed_with_every_checksum_right():
    # 256 kbit/s: packets longer than 255 bytes, split over several lacing values.
    data = opus.encode(tone(3.0), RATE, 256_000, 2)
    found = pages(data)
    head, tags, *audio = found
    assert head[4][28:36] == b"OpusHead" and head[0] == 2 and head[1] == 0  # first page, alone
    assert tags[4][27 + len(tags[3]):].startswith(b"OpusTags") and tags[1] == 0
    assert [page[2] for page in found] == list(range(len(found)))
    assert audio[-1][0] == 4 and all(page[0] == 0 for page in audio[:-1])  # only the last ends the stream
    pre_skip = struct.unpack("<H", head[4][38:40])[0]
    assert audio[-1][1] == pre_skip + 3 * RATE
    assert all(len(page[3]) <= 255 for page in found) and any(255 in page[3] for page in audio)
    granules = [page[1] for page in audio]
    assert granules == sorted(granules)
    for _flags, _granule, _sequence, _lacing, page in found:
        assert struct.unpack("<I", page[22:26])[0] == opus.ogg_crc(page[:22] + b"\0\0\0\0" + page[26:])


def test_the_same_samples_give_the_same_bytes():
    samples = tone()
    assert opus.encode(samples, RATE, 96_000, 2) == opus.encode(samples.copy(), RATE, 96_000, 2)


def test_ffmpeg_reads_it_as_opus_with_its_duration(tmp_path):
    # ffmpeg (installed by make) is what the bot streams clips into a voice channel with.
    path = tmp_path / "clip.ogg"
    path.write_bytes(opus.encode(tone(2.5), RATE, 96_000, 2))
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate:format=duration",
                            "-of", "default=noprint_wrappers=1", str(path)], capture_output=True, text=True, check=True)
    fields = dict(line.split("=", 1) for line in probe.stdout.split())
    assert fields["codec_name"] == "opus" and fields["sample_rate"] == "48000"
    assert float(fields["duration"]) == pytest.approx(2.5, abs=0.01)


def test_a_rate_opus_does_not_code_is_refused_in_one_line():
    with pytest.raises(ValueError, match="^Opus is encoded at 8000, 12000, 16000, 24000, 48000 Hz, not 44100$"):
        opus.encode(tone(rate=44_100), 44_100, 96_000, 2)


def test_a_lower_rate_is_coded_with_the_granule_at_48_khz():
    samples = tone(rate=24_000)
    data = opus.encode(samples, 24_000, 48_000, 2)
    head, *_, last = pages(data)
    pre_skip = struct.unpack("<H", head[4][38:40])[0]
    assert last[1] == pre_skip + 2 * RATE  # 2 s, counted at 48 kHz whatever the input's rate
    decoded, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert len(decoded) / rate == pytest.approx(2.0, abs=1e-3)


def notes(seconds: float, rate: int = RATE) -> np.ndarray:
    """A line of plucked notes (a tone and two overtones, decaying), a new one every quarter second."""
    rng = np.random.default_rng(7)
    step = rate // 4
    t = np.arange(step) / rate
    pieces = []
    for pitch in rng.integers(48, 80, round(seconds * 4)):
        hz = 440 * 2 ** ((pitch - 69) / 12)
        note = sum(np.sin(2 * np.pi * hz * k * t) / k for k in (1, 2, 3)) * np.exp(-t * 6)
        pieces.append(0.2 * note)
    return np.concatenate(pieces).astype(np.float32)


def frame_noise_db(original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """The coding noise of each 20 ms frame, in dB under the frame's own signal."""
    frame = round(opus.FRAME_S * RATE)
    count = len(original) // frame
    signal = original[: count * frame].reshape(count, frame)
    noise = signal - decoded[: count * frame].reshape(count, frame)
    return 10 * np.log10(np.sum(noise**2, axis=1) / (np.sum(signal**2, axis=1) + 1e-9) + 1e-12)


def test_a_long_file_is_encoded_in_parts_with_no_seam_to_hear(monkeypatch):
    samples = notes(45.0)  # 3 parts of 15 s
    parted = opus.encode(samples, RATE, 96_000, 2)
    assert opus.encode(samples, RATE, 96_000, 2) == parted  # the parts' threads change nothing
    monkeypatch.setattr(opus, "PART_S", 1000.0)
    through = opus.encode(samples, RATE, 96_000, 2)  # one encoder from start to end
    assert parted != through
    decoded = soundfile.read(io.BytesIO(parted), dtype="float32")[0]
    assert len(decoded) == len(samples)
    noise = frame_noise_db(samples, decoded)
    reference = frame_noise_db(samples, soundfile.read(io.BytesIO(through), dtype="float32")[0])
    frame = round(opus.FRAME_S * RATE)
    frames = -(-(len(samples) + opus._lookahead(RATE)) // frame)  # the encoder's, its delay and padding included
    for seam in (frames // 3, 2 * frames // 3):  # where the parts meet, in frames of the input
        near = slice(seam - 3, seam + 6)
        # A cold encoder at the seam measured 30 dB over; with the pre-roll and an intra frame, 0.3 dB.
        assert np.max(noise[near] - reference[near]) < 1.5
    assert abs(np.mean(noise) - np.mean(reference)) < 0.2
