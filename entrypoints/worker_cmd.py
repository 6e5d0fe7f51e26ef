"""`breeder worker`: one worker process, with the model and renderer loaded once.

The model runs in numpy (`engine.musicvae`), read straight from its checkpoint: a worker never
imports TensorFlow. The SoundFont loads meanwhile on another thread (FluidSynth lets go of the
GIL), and note_seq is imported without the notebook libraries it pulls in but a worker never calls.
The renderer runs in a child process (`engine.render_process`), ended when a job passes its deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from runtime.exits import CONFIG_ERROR, OK
from runtime.logs import configure
from runtime.redis_server import embedded_or_configured, safe_url
from runtime.settings import WorkerSettings, load
from runtime.signals import stop_event

if TYPE_CHECKING:
    from engine.musicvae import MelodyVAE
    from engine.render_process import RenderProcess
    from runtime.health import Probes
    from storage import BreedStore
    from worker.runner import Worker

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consumer", default=None, help="consumer name in the jobs group (default: host-pid)")


def run(args: argparse.Namespace) -> int:
    from runtime.identity import consumer_name

    settings = load(WorkerSettings)
    configure(settings.log_level)
    return asyncio.run(serve(settings, args.consumer or consumer_name("worker")))


async def serve(settings: WorkerSettings, consumer: str) -> int:
    from engine.render import Renderer
    from engine.render_process import RenderProcess
    from runtime.health import Probes, ProbeServer
    from runtime.metrics import Metrics

    # /healthz answers from the start; /readyz once the model is loaded and the jobs group joined.
    probes = Probes(Metrics())
    probe_server = ProbeServer(probes, settings.metrics_host, settings.metrics_port, f"worker {consumer}")
    await probe_server.start()
    renderer = RenderProcess(functools.partial(
        Renderer, settings.soundfont, mode=settings.render_mode, cache_mb=settings.render_cache_mb,
        warm_s=settings.render_warm_s))
    try:
        return await _serve(settings, consumer, renderer, probes)
    finally:
        renderer.close()
        await probe_server.stop()


class Readiness:
    """What the worker's /readyz checks: the model loaded; Redis answering and the jobs group joined, once
    the store and the runner exist. /metrics' stream gauges are read from the store on each scrape."""

    def __init__(self, probes: Probes) -> None:
        self.model_loaded = False
        self.store: BreedStore | None = None
        self.worker: Worker | None = None
        probes.add_flag("model", lambda: self.model_loaded)
        probes.add_redis(self._ping)
        probes.add_flag("group", lambda: self.worker is not None and self.worker.joined)
        probes.on_scrape(self._refresh)
        self.metrics = probes.metrics

    async def _ping(self) -> bool:
        return self.store is not None and await self.store.ping()

    async def _refresh(self) -> None:
        if self.store is not None:
            self.metrics.set_streams(await self.store.streams.stats())


async def _serve(settings: WorkerSettings, consumer: str, renderer: RenderProcess, probes: Probes) -> int:
    from engine.render import RenderError, RenderUnavailable

    readiness = Readiness(probes)
    with ThreadPoolExecutor(1, thread_name_prefix="soundfont") as loader:
        soundfont = loader.submit(renderer.check)
        from engine.errors import ModelError

        try:
            # Off the event loop, so that /healthz answers while the model loads.
            model = await asyncio.to_thread(load_model, settings)
        except ModelError as error:
            print(f"breeder worker: {error}", flush=True)
            return CONFIG_ERROR
        try:
            soundfont.result()
        except (RenderUnavailable, RenderError) as error:
            print(f"breeder worker: {error}", flush=True)
            return CONFIG_ERROR
    _warm_up(model, renderer)
    readiness.model_loaded = True
    from storage import BreedStore, connect
    from storage.media import DiskMedia, MediaObservers, media_of
    from worker.runner import Worker

    subspace = attributes = None
    if settings.musicvae_checkpoint is None:
        from engine.attributes import load as load_attributes
        from engine.subspace import load as load_subspace

        subspace = load_subspace()  # where the shipped model's melodies live
        attributes = load_attributes()  # the directions nudges move along
    else:
        log.info("another model than the shipped one: the preference strategy searches its whole latent space")

    media = media_of(settings, MediaObservers(sized=[probes.metrics.media_store_bytes.set],
                                              rerendered=[probes.metrics.media_rerenders.inc]))
    if isinstance(media, DiskMedia):
        try:
            media.check()  # every clip goes there: a folder it cannot write would fail every job
        except OSError as error:
            print(f"breeder worker: setting MEDIA_DIR: cannot write to {media.root} ({error.strerror})", flush=True)
            return CONFIG_ERROR
    stop = stop_event()
    with embedded_or_configured(settings) as url:
        redis = connect(url)
        store = BreedStore(redis, artifact_ttl_s=int(settings.artifact_ttl_days * 86400),
                           retention_s=settings.retention_s, media=media)
        worker = Worker(store, model, renderer, consumer,
                        job_timeout_s=settings.job_timeout_s, temperature=settings.temperature,
                        max_deliveries=settings.max_deliveries, subspace=subspace,
                        attributes=attributes, batch=settings.job_batch, job_deadline_s=settings.job_deadline_s,
                        metrics=probes.metrics)
        readiness.store, readiness.worker = store, worker
        log.info("worker %s: model %s, Redis %s", consumer, settings.musicvae_config, safe_url(url))
        try:
            await worker.run(stop)
        finally:
            await store.close()
    log.info("worker %s stopped", consumer)
    return OK


def load_model(settings: WorkerSettings) -> MelodyVAE:
    """The model as a worker runs it (`engine.musicvae.for_worker`); ModelError when it cannot be loaded."""
    _skip_unused_imports()
    from engine.musicvae import for_worker

    return for_worker(settings.musicvae_config, settings.musicvae_checkpoint)


def _skip_unused_imports() -> None:
    """Keep note_seq's import from loading what only notebooks use (seconds of start-up)."""
    if "note_seq" not in sys.modules:
        # note_seq's package imports its notebook helpers (bokeh, IPython) unconditionally.
        notebook = types.ModuleType("note_seq.notebook_utils")

        def unavailable(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("note_seq's notebook helpers are not loaded in a worker")

        notebook.play_sequence = notebook.plot_sequence = unavailable
        sys.modules.setdefault("note_seq.notebook_utils", notebook)


def _warm_up(model: MelodyVAE, renderer: RenderProcess) -> None:
    """Decode and render once, so the first job does not pay for first runs (imports, the synthesiser's buffers)."""
    import numpy as np

    from domain.model import BreedParams

    params = BreedParams()
    melodies = model.decode(np.zeros((1, model.latent_size), np.float32))
    renderer.render_clips(melodies, params.tempo, params.instrument)

