"""The metrics contract (docs/operations.md): each metric as a scrape names it, and its labels."""

from __future__ import annotations

CONTRACT_METRICS: dict[str, set[str]] = {
    "melody_jobs_total": {"kind", "outcome"},
    "melody_job_seconds": {"kind"},
    "melody_stage_seconds": {"stage"},
    "melody_close_to_post_seconds": set(),
    "melody_stream_length": {"stream"},
    "melody_stream_pending": {"stream", "group"},
    "melody_stream_lag": {"stream", "group"},
    "melody_open_breeds": set(),
    "melody_votes_total": set(),
    "melody_discord_errors_total": {"kind"},
    "melody_discord_ratelimit_wait_seconds_total": set(),
    "melody_redis_roundtrip_seconds": set(),
    "melody_media_store_bytes": set(),
    "melody_media_rerenders_total": set(),
}

# The same by family (prometheus-client's parser names a counter's family without `_total`).
CONTRACT_FAMILIES: dict[str, set[str]] = {
    name.removesuffix("_total"): labels for name, labels in CONTRACT_METRICS.items()
}
