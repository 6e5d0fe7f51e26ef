"""`breeder bench soundfonts`: the General MIDI SoundFonts a worker could use, compared by measurement.

Each SoundFont is loaded in a fresh process (as a worker loads it): file size, load time, the
memory it takes, the CPU time to synthesise a 2-bar clip, and the spectrum of the same clips
(a C major scale, 8 notes) in four instruments: the spectral centroid and the 95 % roll-off
(how bright and how wide the sound is) and the share of energy above 5 kHz. Listening cannot
be automated; these say which sounds fuller and which a worker can afford.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

# Debian's full General MIDI SoundFonts: fluid-soundfont-gm and musescore-general-soundfont.
CANDIDATES = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/sounds/sf3/MuseScore_General.sf3"))
INSTRUMENTS = {"piano": 0, "nylon guitar": 24, "strings": 48, "flute": 73}

# Runs in a fresh interpreter per SoundFont, so that its memory is measured alone.
_MEASURE = """
import json, resource, sys, time
import numpy as np
from pathlib import Path
from domain.model import Note
from engine.render import Renderer
path = Path(sys.argv[1])
instruments = json.loads(sys.argv[2])
def rss_mb():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
scale = [Note(60 + o, 4 * i, 4 * i + 3) for i, o in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]
renderer = Renderer(path)
before = rss_mb()
started = time.perf_counter()
renderer.check()
loaded = time.perf_counter() - started
memory = rss_mb() - before
synth = renderer.synth()
figures = {"load_s": loaded, "memory_mb": memory, "size_mb": path.stat().st_size / 2**20, "clips": {}}
for name, program in instruments.items():
    data, frames = renderer.clip_midi(scale, 120, program)
    synth.render(data, frames)  # the first render of a preset may load its samples
    cpu = time.process_time()
    stereo = synth.render(data, frames)
    cpu = time.process_time() - cpu
    mono = stereo.mean(axis=1).astype(np.float64)
    power = np.abs(np.fft.rfft(mono)) ** 2
    hz = np.fft.rfftfreq(len(mono), 1 / renderer.sample_rate)
    cumulative = np.cumsum(power) / power.sum()
    figures["clips"][name] = {
        "cpu_ms": cpu * 1000,
        "centroid_hz": float((hz * power).sum() / power.sum()),
        "rolloff95_hz": float(hz[np.searchsorted(cumulative, 0.95)]),
        "above_5k": float(power[hz > 5000].sum() / power.sum()),
    }
print(json.dumps(figures))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("soundfonts", nargs="*", type=Path, help="SoundFonts to compare (default: the shipped "
                        "TimGM6mb, FluidR3_GM and MuseScore_General where installed)")


def run(args: argparse.Namespace) -> int:
    from engine.render import shipped_soundfont
    from runtime.settings import PROJECT_ROOT

    paths = args.soundfonts or [shipped_soundfont(), *CANDIDATES]
    results = {}
    for path in paths:
        if not path.is_file():
            print(f"{path}: not installed, skipped")
            continue
        print(f"{path.name}: loading in a fresh process ...", flush=True)
        done = subprocess.run([sys.executable, "-c", _MEASURE, str(path), json.dumps(INSTRUMENTS)],
                              capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
        if done.returncode != 0:
            print(f"{path.name}: failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        results[path.name] = json.loads(done.stdout.strip().splitlines()[-1])
    for name, figures in results.items():
        print(f"\n{name}: {figures['size_mb']:.0f} MB file, loaded in {figures['load_s']:.1f} s, "
              f"+{figures['memory_mb']:.0f} MB resident")
        for instrument, clip in figures["clips"].items():
            print(f"  {instrument:<13} synthesis {clip['cpu_ms']:5.1f} ms CPU per 4.5 s clip; centroid "
                  f"{clip['centroid_hz']:6.0f} Hz, 95 % roll-off {clip['rolloff95_hz']:6.0f} Hz, "
                  f"{clip['above_5k'] * 100:5.2f} % above 5 kHz")
    summary = " ".join(
        f"{name.split('.')[0]}_load_s={f['load_s']:.1f} {name.split('.')[0]}_mb={f['memory_mb']:.0f}"
        for name, f in results.items()
    )
    print(f"RESULT {summary}")
    return 0
