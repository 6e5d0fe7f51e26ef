"""The `breeder` command: every entry point of the project as a subcommand.

Each subcommand lives in a module exposing `add_arguments(parser)` and `run(args) -> int`.
Those modules import nothing heavy at import time, so `--help` is instant and the bot
never pulls in TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from runtime.exits import CONFIG_ERROR, INTERRUPTED

# (name, module, help). `bench` has its own subcommands below.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "entrypoints.supervisor", "run Redis, the worker and the bot (or the web page without a token)"),
    ("worker", "entrypoints.worker_cmd", "run a worker: evolve, decode and render jobs from Redis"),
    ("bot", "entrypoints.bot_cmd", "run the Discord bot"),
    ("local", "entrypoints.local_cmd", "breed melodies in the terminal, without Discord"),
    ("web", "entrypoints.web_cmd", "the web page alone, against the configured Redis"),
    ("train", "training.cli", "build the corpus dataset and train the MusicVAE model"),
    ("attributes", "training.attributes", "compute the model's attribute vectors (nudges) from the corpus"),
    ("export", "training.export", "write an inference-only checkpoint from a training run"),
    ("redis", "entrypoints.redis_cmd", "run the embedded Redis server in the foreground"),
)
# Commands that build Magenta's TensorFlow graph: they need the `training` extra and Magenta.
TRAINING = ("train", "attributes", "export")
TRAINING_HINT = ("install the `training` extra and Magenta: pip install '.[engine,training]' and "
                 "pip install --no-deps magenta==2.1.4 (`make` does both)")
# Benchmarks live in the top-level `bench/` package of a source checkout: the wheel and the images
# do not ship it, so `breeder bench` exists only where that folder does.
BENCHMARKS: tuple[tuple[str, str, str], ...] = (
    ("soak", "bench.soak", "many breeds through the bot while a worker, Redis and the bot fail"),
    ("model", "bench.model", "model quality: reconstruction and prior-sample statistics"),
    ("decode", "bench.decode", "decoder speed, cold start and memory"),
    ("step", "bench.step", "time of a whole generation step and worker throughput"),
    ("soundfonts", "bench.soundfonts", "General MIDI SoundFonts compared: load time, memory, synthesis, spectrum"),
    ("ga", "bench.ga", "GA strategies' convergence with simulated voters, in latent space"),
    ("attributes", "bench.attributes", "what each attribute vector (nudge) does to decoded melodies"),
    ("converge", "bench.converge", "GA strategies against chance, with simulated voters who hear the melodies"),
    ("tune", "bench.tune", "tunes built from bred melodies: form, harmony, endings, build and render time"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breeder", description="Melody Breeder: breed melodies together.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, help_text in COMMANDS:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _attach(sub, module)
    if not _bench_available():
        return parser
    bench = commands.add_parser("bench", help="benchmarks that print figures and a RESULT line (source checkout)")
    benches = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, module, help_text in BENCHMARKS:
        sub = benches.add_parser(name, help=help_text, description=help_text)
        _attach(sub, module)
    return parser


def _bench_available() -> bool:
    """Whether the `bench` package can be imported, from the checkout the installed code comes from."""
    if importlib.util.find_spec("bench") is not None:
        return True
    from runtime.settings import PROJECT_ROOT

    if (PROJECT_ROOT / "bench" / "__init__.py").is_file():
        sys.path.append(str(PROJECT_ROOT))
        return True
    return False


def _attach(parser: argparse.ArgumentParser, module_name: str) -> None:
    module = importlib.import_module(module_name)
    module.add_arguments(parser)
    parser.set_defaults(handler=module.run)


def missing_training() -> list[str]:
    """The packages of the `training` extra (and Magenta) that are not installed."""
    return [name for name in ("tensorflow", "magenta") if importlib.util.find_spec(name) is None]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in TRAINING and (missing := missing_training()):
        print(f"breeder {args.command}: needs {' and '.join(missing)}, which this install leaves out; {TRAINING_HINT}")
        return CONFIG_ERROR
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
