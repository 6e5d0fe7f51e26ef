"""The Prometheus metrics of every process (docs/operations.md, "Metrics and health").

Each process builds one `Metrics` and serves its registry (`runtime.health`); the worker, the breeding
service and the bot record into it. A `Metrics` has a registry of its own, never prometheus-client's
global one, so two processes' worth of objects in one test process never mix.

A label only ever takes a value from the fixed sets below (job kinds, outcomes, stages, streams,
groups, Discord error kinds): never a token, a person's id, a breed id or text. A value outside
them is a programming error, refused with ValueError before it reaches the registry.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from domain.jobs import JobKind

# A counter's `_created` series would double every series for nothing a dashboard reads.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus-client 0.26 leaves it unannotated

CONTENT_TYPE = CONTENT_TYPE_LATEST

JOB_KINDS = frozenset(str(kind) for kind in JobKind)  # a new job kind is counted without a change here
JOB_OUTCOMES = frozenset({"done", "failed", "abandoned", "dead_lettered"})
STAGES = frozenset({"decode", "render", "write", "post"})
STREAMS = frozenset({"jobs", "events"})
GROUPS = frozenset({"workers", "bots", "web"})
# Discord's refusals by HTTP status: 403, 404, 429 (a request given up), any other 4xx, 5xx; "other" for
# an error without a status.
DISCORD_ERROR_KINDS = frozenset({"forbidden", "notfound", "ratelimited", "4xx", "5xx", "other"})

# Seconds: a job or a stage takes from milliseconds (a tree) to a minute (a deadline); a Redis PING
# answers in well under a millisecond on one host.
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CLOSE_TO_POST_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
ROUNDTRIP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
# Votes closed in this process whose next generation is not posted yet, remembered for close_to_post;
# beyond it the oldest are forgotten (their generation failed, or another process posts it).
MAX_CLOSED_VOTES = 10_000


class StreamStats(Protocol):
    """One stream's numbers, as the store reads them (storage.streams.StreamStats)."""

    @property
    def stream(self) -> str: ...

    @property
    def length(self) -> int: ...

    @property
    def pending(self) -> Mapping[str, int]: ...

    @property
    def lag(self) -> Mapping[str, int]: ...


def _allowed(value: str, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def discord_error_kind(status: int | None) -> str:
    """The kind label of a Discord HTTP error with `status` (None: no HTTP status)."""
    if status is None:
        return "other"
    return {403: "forbidden", 404: "notfound", 429: "ratelimited"}.get(
        status, "5xx" if status >= 500 else "4xx" if status >= 400 else "other")


class Metrics:
    """The contract's metrics on a registry of their own, and the helpers that record them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.jobs = Counter("melody_jobs", "Jobs a worker handled, by kind and outcome", ["kind", "outcome"],
                            registry=registry)
        self.job_seconds = Histogram("melody_job_seconds", "How long a worker took for a whole job", ["kind"],
                                     buckets=JOB_BUCKETS, registry=registry)
        self.stage_seconds = Histogram("melody_stage_seconds", "How long one stage of making a generation took",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=registry)
        self.close_to_post_seconds = Histogram(
            "melody_close_to_post_seconds", "From a vote closing to the next generation posted",
            buckets=CLOSE_TO_POST_BUCKETS, registry=registry)
        self.stream_length = Gauge("melody_stream_length", "Entries a stream holds", ["stream"], registry=registry)
        self.stream_pending = Gauge("melody_stream_pending", "Entries delivered to a group and not acknowledged",
                                    ["stream", "group"], registry=registry)
        self.stream_lag = Gauge("melody_stream_lag", "Entries a group has not been handed yet",
                                ["stream", "group"], registry=registry)
        self.open_breeds = Gauge("melody_open_breeds", "Breeds starting, voting or evolving", registry=registry)
        self.votes = Counter("melody_votes", "Votes counted (a reaction, a ballot)", registry=registry)
        self.discord_errors = Counter("melody_discord_errors", "Discord's refusals of the bot's requests, by kind",
                                      ["kind"], registry=registry)
        self.discord_ratelimit_wait = Counter(
            "melody_discord_ratelimit_wait_seconds", "Seconds the bot waited for Discord's rate limits",
            registry=registry)
        self.redis_roundtrip_seconds = Histogram("melody_redis_roundtrip_seconds", "Redis PING round trips",
                                                 buckets=ROUNDTRIP_BUCKETS, registry=registry)
        self.media_store_bytes = Gauge("melody_media_store_bytes", "Bytes the media store holds", registry=registry)
        self.media_rerenders = Counter("melody_media_rerenders", "Media rendered again because it was gone",
                                       registry=registry)
        self._closed: collections.OrderedDict[tuple[str, int], float] = collections.OrderedDict()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    # --- worker ------------------------------------------------------------------------------

    def job_done(self, kind: str, outcome: str, seconds: float | None = None) -> None:
        """Count a job of `kind` that ended with `outcome`; `seconds`: how long it ran, if it ran."""
        self.jobs.labels(_allowed(kind, JOB_KINDS, "job kind"), _allowed(outcome, JOB_OUTCOMES, "outcome")).inc()
        if seconds is not None:
            self.job_seconds.labels(kind).observe(seconds)

    @contextlib.contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        """Time the block as one `stage` (decode, render, write, post); a block that raises is not timed."""
        child = self.stage_seconds.labels(_allowed(stage, STAGES, "stage"))
        began = time.perf_counter()
        yield
        child.observe(time.perf_counter() - began)

    # --- streams and Redis -------------------------------------------------------------------

    def set_streams(self, stats: Iterable[StreamStats]) -> None:
        """Set the stream gauges from the store's numbers; groups outside the contract's are left out."""
        for stream in stats:
            name = _allowed(stream.stream, STREAMS, "stream")
            self.stream_length.labels(name).set(stream.length)
            for group, pending in stream.pending.items():
                if group in GROUPS:
                    self.stream_pending.labels(name, group).set(pending)
            for group, lag in stream.lag.items():
                if group in GROUPS:
                    self.stream_lag.labels(name, group).set(lag)

    def redis_roundtrip(self, seconds: float) -> None:
        self.redis_roundtrip_seconds.observe(seconds)

    # --- front ends --------------------------------------------------------------------------

    def vote_counted(self, votes: int = 1) -> None:
        if votes > 0:
            self.votes.inc(votes)

    def vote_closed(self, breed_id: str, generation: int) -> None:
        """The vote on `generation` closed here: the next generation's post will say how long it took."""
        self._closed[(breed_id, generation + 1)] = time.perf_counter()
        self._closed.move_to_end((breed_id, generation + 1))
        while len(self._closed) > MAX_CLOSED_VOTES:
            self._closed.popitem(last=False)

    def generation_posted(self, breed_id: str, generation: int) -> float | None:
        """Generation `generation` was posted: observe the time since its vote closed here; those seconds,
        or None when no vote closed here led to it (a first generation, another process's vote)."""
        closed = self._closed.pop((breed_id, generation), None)
        if closed is None:
            return None
        seconds = time.perf_counter() - closed
        self.close_to_post_seconds.observe(seconds)
        return seconds

    def discord_error(self, status: int | None) -> None:
        self.discord_errors.labels(discord_error_kind(status)).inc()

    def discord_ratelimit_waited(self, seconds: float) -> None:
        if seconds > 0:
            self.discord_ratelimit_wait.inc(seconds)
