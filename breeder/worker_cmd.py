"""`breeder worker`: one worker process, with the model and renderer loaded once."""

from __future__ import annotations

import argparse
import asyncio
import logging

from runtime.exits import CONFIG_ERROR, OK
from runtime.logs import configure
from runtime.redis_server import embedded_or_configured, safe_url
from runtime.settings import WorkerSettings, load
from runtime.signals import stop_event

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consumer", default=None, help="consumer name in the jobs group (default: host-pid)")


def run(args: argparse.Namespace) -> int:
    from engine.worker import consumer_name

    settings = load(WorkerSettings)
    configure(settings.log_level)
    return asyncio.run(serve(settings, args.consumer or consumer_name()))


async def serve(settings: WorkerSettings, consumer: str) -> int:
    from engine.render import Renderer, RenderUnavailable

    renderer = Renderer(settings.soundfont)
    try:
        renderer.check()
    except RenderUnavailable as error:
        print(f"breeder worker: {error}", flush=True)
        return CONFIG_ERROR
    from engine.decoder import MelodyModel, ModelError

    try:
        model = MelodyModel.load(settings.musicvae_config, settings.musicvae_checkpoint)
    except ModelError as error:
        print(f"breeder worker: {error}", flush=True)
        return CONFIG_ERROR
    from engine.worker import Worker
    from storage import BreedStore, connect

    subspace = None
    if settings.musicvae_checkpoint is None:
        from engine.subspace import load as load_subspace

        subspace = load_subspace()  # where the shipped model's melodies live
    else:
        log.info("another model than the shipped one: the preference strategy searches its whole latent space")

    stop = stop_event()
    with embedded_or_configured(settings) as url:
        redis = connect(url)
        store = BreedStore(redis, artifact_ttl_s=int(settings.artifact_ttl_days * 86400))
        worker = Worker(store, model, renderer, consumer,
                        job_timeout_s=settings.job_timeout_s, temperature=settings.temperature,
                        max_deliveries=settings.max_deliveries, subspace=subspace, batch=settings.job_batch)
        log.info("worker %s: model %s, Redis %s", consumer, settings.musicvae_config, safe_url(url))
        try:
            await worker.run(stop)
        finally:
            await store.close()
    log.info("worker %s stopped", consumer)
    return OK


