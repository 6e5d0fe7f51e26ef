"""The worker of the worker's tests: jobs are handed to it one by one (`handle`), or it runs its loop."""

from __future__ import annotations

import pytest

from engine.attributes import load as load_attributes
from engine.subspace import load as load_subspace
from worker.runner import Worker


@pytest.fixture
def worker(store, melody_model, renderer) -> Worker:
    return Worker(store, melody_model, renderer, "test-worker", job_timeout_s=30.0, block_ms=50,
                  subspace=load_subspace(), attributes=load_attributes())
