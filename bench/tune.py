"""`breeder bench tune`: tunes built from 100 melodies, measured.

Themes: half prior samples z ~ N(0, I) decoded (what a breed's winner is), half held-out corpus
windows (real tunes the model never trained on, as an uploaded seed would be; their notes are
the theme as written). Each theme's contrast latent is a sibling, the theme mutated with
sigma 0.5 as the GA's default mutation makes one (a runner-up of the same generation).

Figures, medians over tunes or shares of all of them:
- theme_recurs: the share of tunes in which the theme comes back, as written or transposed;
- variation_similarity: the median similarity to the theme of the phrases made near it (A', A'', C);
- contrast_distance: the median of 1 - similarity of the contrasting phrase (B) to the theme;
- ends_on_tonic: the share of tunes whose last melody note is the tonic of the estimated key;
- final_chord_tonic: the share whose last chord is the tonic chord;
- strong_beat_chord_tones: the share of melody notes starting on beat 1 or 3 that are tones of the
  chord sounding then (target >= 0.85), over all tunes;
- chords_in_key: the share of chords (one per half bar) all of whose tones are in the key;
- clip_strong_beat_chord_tones: the same share for the themes alone with the backing of a breed's
  2-bar clips (chords fitted to the clip in its own key);
- build_s, render_s: median seconds to build a tune and to render its MIDI file to OGG (as --render-mode
  says: mixed from the note cache, the default, or synthesised whole by FluidSynth);
- encode_s: median seconds of the OGG encoding alone, the part of render_s no mode avoids.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from domain.model import Note
from domain.tune import BACKINGS, DEFAULT_BACKING, TUNE_BARS
from runtime.exits import CONFIG_ERROR

if TYPE_CHECKING:
    from engine.tune import Tune

FLUID_R3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SIBLING_SIGMA = 0.5
TARGETS = {"strong_beat_chord_tones": 0.85, "clip_strong_beat_chord_tones": 0.85}
NEAR_LABELS = ("A'", "A''", "C")


@dataclass(frozen=True)
class TuneFigures:
    """What one tune shows: its phrases' relation to the theme, its ending and its harmony."""

    theme_recurs: bool
    variation_similarities: list[float]
    contrast_distance: float | None
    ends_on_tonic: bool
    final_chord_tonic: bool
    strong_hits: int
    strong_notes: int
    chords_in_key: int
    chords: int
    clip_hits: int = 0
    clip_notes: int = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--melodies", type=int, default=100, help="themes, half prior samples, half held-out")
    parser.add_argument("--bars", type=int, choices=TUNE_BARS, default=8)
    parser.add_argument("--backing", choices=BACKINGS, default=DEFAULT_BACKING)
    parser.add_argument("--heldout", type=Path, default=None,
                        help="held-out TFRecord (default: data/corpus/heldout.tfrecord, built if missing)")
    parser.add_argument("--soundfont", type=Path, default=FLUID_R3 if FLUID_R3.is_file() else None,
                        help="SoundFont to render with (default: FluidR3_GM when installed)")
    parser.add_argument("--render-mode", choices=("cache", "fluidsynth"), default="cache",
                        help="mix clips from the note cache (default) or synthesise each whole")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--example", type=Path, default=None,
                        help="write the first tune's tune.mid, tune.ogg and tune.png into this folder")


def run(args: argparse.Namespace) -> int:
    from bench.model import DEFAULT_HELDOUT, heldout_windows, tokens_melodies
    from engine import subspace as melody_subspace
    from engine.errors import ModelError
    from engine.musicvae import MelodyVAE
    from engine.render import Renderer, RenderUnavailable
    from engine.tune import build_tune

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if args.melodies < 2:
        print("breeder bench tune: need at least 2 melodies")
        return CONFIG_ERROR
    renderer = Renderer(soundfont=args.soundfont, mode=args.render_mode)
    try:
        renderer.check()
        model = MelodyVAE.load("cat-mel_2bar_small")  # the model as a worker runs it
    except (ModelError, RenderUnavailable) as error:
        print(f"breeder bench tune: {error}")
        return CONFIG_ERROR
    subspace = melody_subspace.load()
    rng = np.random.default_rng(args.seed)
    priors = args.melodies - args.melodies // 2
    windows = heldout_windows(args.heldout or DEFAULT_HELDOUT, model.config_name, 4 * args.melodies, args.seed)
    written = [notes for notes in tokens_melodies(windows) if len(notes) >= 4][: args.melodies - priors]
    themes: list[tuple[np.ndarray, list[Note] | None]] = [
        (latent, None) for latent in rng.standard_normal((priors, model.latent_size)).astype(np.float32)
    ]
    themes += [(latent, notes) for latent, notes in zip(model.encode(written), written, strict=True)]

    figures: list[TuneFigures] = []
    build_times: list[float] = []
    render_times: list[float] = []
    encode_times: list[float] = []
    forms: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    for latent, notes in themes:
        sibling = latent + rng.standard_normal(latent.shape).astype(np.float32) * SIBLING_SIGMA
        started = time.perf_counter()
        tune = build_tune(model, latent, contrast=sibling, bars=args.bars, backing=args.backing, tempo=120,
                          instrument=0, subspace=subspace, rng=rng, theme_notes=notes)
        build_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        audio = renderer.render_midi(tune.midi)
        render_times.append(time.perf_counter() - started)
        encode_times.append(encode_seconds(renderer, tune.midi))
        if args.example is not None and not figures:
            write_example(args.example, tune, audio)
        figures.append(measure(tune, args.backing))
        forms[" ".join(section.label for section in tune.sections)] += 1
        closes.update(closing_kind(s.how) for s in tune.sections if s.label == "C")
    model.close()

    summary = summarise(figures)
    summary["build_s"] = statistics.median(build_times)
    summary["render_s"] = statistics.median(render_times)
    summary["encode_s"] = statistics.median(encode_times)
    print(f"{len(themes)} tunes of {args.bars} bars, backing {args.backing!r}: {priors} from prior samples, "
          f"{len(themes) - priors} from held-out corpus windows; rendered with {renderer.soundfont.name} "
          f"({renderer.mode})")
    print("forms: " + ", ".join(f"{form} x{count}" for form, count in forms.most_common()))
    print("closing phrases: " + (", ".join(f"{kind} x{count}" for kind, count in closes.most_common()) or "none"))
    for name, value in summary.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"  (target >= {target:g}: {'met' if value >= target else 'MISSED'})"
        print(f"{name:28} {value:8.3f}{verdict}")
    print("RESULT " + " ".join(f"{name}={value:.3f}" for name, value in summary.items()))
    return 0


def encode_seconds(renderer, midi: bytes) -> float:
    """Seconds to encode a tune's levelled samples as the renderer does, alone."""
    (samples,) = renderer.render_samples([midi])
    started = time.perf_counter()
    renderer.encode(samples)
    return time.perf_counter() - started


def write_example(folder: Path, tune: Tune, audio: bytes) -> None:
    from engine.pianoroll import tune_roll

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tune.mid").write_bytes(tune.midi)
    (folder / "tune.ogg").write_bytes(audio)
    (folder / "tune.png").write_bytes(tune_roll(tune))
    print(f"example: {folder}/tune.mid, tune.ogg, tune.png; " + "; ".join(
        f"{s.label} (bar {s.first_bar}): {s.how}" for s in tune.sections))


def measure(tune: Tune, backing: str) -> TuneFigures:
    """The figures of one tune and of its theme as a clip with `backing` (see the module docstring)."""
    from engine.arrange import CLIP_STEPS, arrange
    from engine.harmony import in_key, strong_beat_fit
    from engine.similarity import similarity

    theme = tune.phrases[0]
    later = tune.phrases[1:]
    near = [similarity(theme, phrase) for section, phrase in zip(tune.sections, tune.phrases, strict=True)
            if section.label in NEAR_LABELS]
    contrast = next((phrase for s, phrase in zip(tune.sections, tune.phrases, strict=True) if s.label == "B"), None)
    hits, total = strong_beat_fit(tune.melody, tune.chords)
    last = max(tune.melody, key=lambda n: (n.start, n.pitch)) if tune.melody else None
    clip_hits, clip_notes = strong_beat_fit(theme, arrange(theme, backing, 120, 0, CLIP_STEPS).chords)
    return TuneFigures(
        theme_recurs=any(returns(theme, phrase) for phrase in later),
        variation_similarities=near,
        contrast_distance=None if contrast is None else 1.0 - similarity(theme, contrast),
        ends_on_tonic=last is not None and last.pitch % 12 == tune.key.tonic,
        final_chord_tonic=bool(tune.chords) and tune.chords[-1].is_tonic,
        strong_hits=hits,
        strong_notes=total,
        chords_in_key=sum(in_key(chord, tune.key) for chord in tune.chords),
        chords=len(tune.chords),
        clip_hits=clip_hits,
        clip_notes=clip_notes,
    )


def closing_kind(how: str) -> str:
    """Which way a closing phrase reached the tonic, from its description."""
    if "cut at its tonic" in how:
        return "cut at a tonic on a strong beat"
    if "moved to the tonic" in how:
        return "last note moved to the tonic"
    return "ends on the tonic"


def returns(theme: list[Note], phrase: list[Note]) -> bool:
    """Whether `phrase` is `theme` as written or transposed (every note moved by one interval)."""
    if len(theme) != len(phrase) or not theme:
        return False
    shift = phrase[0].pitch - theme[0].pitch
    pairs = zip(theme, phrase, strict=True)
    return all((b.pitch - a.pitch, b.start, b.end) == (shift, a.start, a.end) for a, b in pairs)


def summarise(figures: list[TuneFigures]) -> dict[str, float]:
    """Medians and shares over tunes, in the RESULT line's order."""
    near = [value for figure in figures for value in figure.variation_similarities]
    distances = [f.contrast_distance for f in figures if f.contrast_distance is not None]
    strong = sum(f.strong_notes for f in figures)
    chords = sum(f.chords for f in figures)
    clip_notes = sum(f.clip_notes for f in figures)
    return {
        "theme_recurs": float(np.mean([f.theme_recurs for f in figures])),
        "variation_similarity": statistics.median(near) if near else 0.0,
        "contrast_distance": statistics.median(distances) if distances else 0.0,
        "ends_on_tonic": float(np.mean([f.ends_on_tonic for f in figures])),
        "final_chord_tonic": float(np.mean([f.final_chord_tonic for f in figures])),
        "strong_beat_chord_tones": sum(f.strong_hits for f in figures) / strong if strong else 0.0,
        "chords_in_key": sum(f.chords_in_key for f in figures) / chords if chords else 0.0,
        "clip_strong_beat_chord_tones": sum(f.clip_hits for f in figures) / clip_notes if clip_notes else 0.0,
    }
