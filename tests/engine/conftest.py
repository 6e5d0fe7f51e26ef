"""Model fixtures: the shipped MusicVAE model and a random one, each loaded once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from engine.musicvae import MelodyVAE
    from training.decoder import MelodyModel


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "trained_model: needs the trained model in engine/model (a random stand-in fails it on purpose)",
    )


@pytest.fixture(scope="session")
def melody_model() -> MelodyVAE:
    """The shipped model (engine/model/cat-mel_2bar_small), as a worker loads it: in numpy.

    MUSICVAE_CHECKPOINT, when set, replaces it: a way to test an export before shipping it.
    """
    from engine.musicvae import for_worker

    return for_worker("cat-mel_2bar_small", os.environ.get("MUSICVAE_CHECKPOINT") or None)


@pytest.fixture(scope="session")
def tf_model() -> Iterator[MelodyModel]:
    """The same model built by Magenta's TensorFlow code, as training and export use it."""
    # Imported here: TensorFlow loads only in sessions that run such a test.
    from training.decoder import MelodyModel

    model = MelodyModel.load(checkpoint=os.environ.get("MUSICVAE_CHECKPOINT") or None)
    yield model
    model.close()


@pytest.fixture(scope="session")
def random_checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a randomly initialised cat-mel_2bar_small checkpoint (seed 1, unlike any export)."""
    from training.export import random_checkpoint

    folder = tmp_path_factory.mktemp("random-model")
    random_checkpoint("cat-mel_2bar_small", folder, seed=1)
    return folder


@pytest.fixture(scope="session")
def random_model(random_checkpoint_dir: Path) -> Iterator[MelodyModel]:
    """The model of `random_checkpoint_dir`: what an untrained model decodes."""
    from training.decoder import MelodyModel

    model = MelodyModel.load(checkpoint=random_checkpoint_dir)
    yield model
    model.close()
