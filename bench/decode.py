"""`breeder bench decode`: decoder speed, cold start and memory.

- decode time of 8 latents (one generation) with the shipped model, median after a warm-up;
- cold start: a fresh process importing the decoder and loading the model (what a worker pays
  once), and the resident memory of that process holding the model after a decode;
- the same decode time for cat-mel_2bar_big with random weights, to show what the bigger
  Magenta model would cost per generation on the same machine.

`--implementation numpy` (the default) measures what a worker runs (`engine.musicvae`);
`tensorflow` measures Magenta's graph (`training.decoder`), as training and export use it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from runtime.exits import CONFIG_ERROR
from runtime.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from engine.sampling import LatentModel

# Runs in a fresh interpreter: the clock starts before the first heavy import.
_COLD_START = """
import time
started = time.perf_counter()
import json, sys
import numpy as np
if sys.argv[3] == "numpy":
    from engine.musicvae import for_worker as load
else:
    from training.decoder import MelodyModel
    load = MelodyModel.load
imported = time.perf_counter()
model = load(sys.argv[1], sys.argv[2] if sys.argv[2] else None)
loaded = time.perf_counter()
model.decode(np.zeros((8, model.latent_size), np.float32))
decoded = time.perf_counter()
rss_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported,
                  "first_decode_s": decoded - loaded, "rss_mb": rss_kb / 1024}))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint prefix or folder (default: the shipped model in engine/model)")
    parser.add_argument("--config", default="cat-mel_2bar_small", help="Magenta config name")
    parser.add_argument("--repeats", type=int, default=50, help="timed decodes of 8 latents (default 50)")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes for the cold start (default 3)")
    parser.add_argument("--implementation", choices=("numpy", "tensorflow"), default="numpy",
                        help="numpy: what a worker runs (default); tensorflow: Magenta's graph")
    parser.add_argument("--big-repeats", type=int, default=10,
                        help="timed decodes with cat-mel_2bar_big (default 10; 0 skips it)")


def _loader(implementation: str):
    if implementation == "numpy":
        from engine.musicvae import for_worker

        return for_worker  # as a worker runs it
    from training.decoder import MelodyModel

    return MelodyModel.load


def run(args: argparse.Namespace) -> int:
    import tempfile

    from engine.errors import ModelError

    load = _loader(args.implementation)
    try:
        model = load(args.config, args.checkpoint)
    except ModelError as error:
        print(f"breeder bench decode: {error}")
        return CONFIG_ERROR
    print(f"model {args.config} from {model.checkpoint} ({args.implementation}); {os.cpu_count()} CPU cores")
    decode8 = decode_seconds(model, args.repeats)
    model.close()
    print(f"decode 8 latents: median {decode8 * 1000:.1f} ms over {args.repeats}")

    colds = [cold_start(args.config, args.checkpoint, args.implementation) for _ in range(args.cold_runs)]
    cold = {key: statistics.median(sample[key] for sample in colds) for key in colds[0]}
    cold_s = cold["import_s"] + cold["load_s"]
    print(f"cold start (median of {args.cold_runs} fresh processes): imports {cold['import_s']:.2f} s + "
          f"load {cold['load_s']:.2f} s = {cold_s:.2f} s; first decode {cold['first_decode_s']:.2f} s")
    print(f"resident memory of a process holding the model: {cold['rss_mb']:.0f} MB")

    big = float("nan")
    if args.big_repeats > 0:
        from training.export import random_checkpoint

        with tempfile.TemporaryDirectory() as folder:
            big_model = load("cat-mel_2bar_big", random_checkpoint("cat-mel_2bar_big", Path(folder)))
            big = decode_seconds(big_model, args.big_repeats)
            big_model.close()
        print(f"cat-mel_2bar_big (random weights), decode 8 latents: median {big * 1000:.1f} ms "
              f"over {args.big_repeats}")
    print(f"RESULT decode8_median_s={decode8:.4f} cold_start_s={cold_s:.2f} rss_mb={cold['rss_mb']:.0f} "
          f"big_decode8_median_s={big:.4f}")
    return 0


def decode_seconds(model: LatentModel, repeats: int, warmup: int = 3) -> float:
    """Median seconds to decode 8 fresh standard-normal latents, after `warmup` decodes."""
    rng = np.random.default_rng(0)
    for _ in range(warmup):
        model.decode(rng.standard_normal((8, model.latent_size)).astype(np.float32))
    samples = []
    for _ in range(repeats):
        latents = rng.standard_normal((8, model.latent_size)).astype(np.float32)
        started = time.perf_counter()
        model.decode(latents)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def cold_start(config_name: str, checkpoint: Path | None, implementation: str = "numpy") -> dict[str, float]:
    """Import, load and first-decode times and RSS of a fresh process loading the model."""
    result = subprocess.run(
        [sys.executable, "-c", _COLD_START, config_name, str(checkpoint or ""), implementation],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the cold-start process failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
