"""What the soak's breeds leave in Redis: bytes per finished breed now, once files expire, once breeds expire."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

# A key's kind: its name with ids as `*` and numbers as `N` ("mb:breed:*:gen:N:latents").
_ID = re.compile(r"(?<=:)(?!artifact:)[a-z0-9]{8}(?=:|-g|$)")  # "artifact": the one 8-letter word of a key
_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class RedisBytes:
    """Bytes of Redis keys per finished breed (streams left out: they are trimmed, not per breed)."""

    now: float
    after_files: float  # once the rendered files' TTL (ARTIFACT_TTL_DAYS) passed
    after_retention: float  # once the breeds' retention (BREED_RETENTION_DAYS) passed: what stays for good
    keys_kept: float  # keys per breed that never expire (the gallery's winner)
    # Over a breed's retention, on average: each key's bytes for the part of the retention it lives (the gallery's
    # for all of it). Redis holds breeds a day x retention days x this, in steady state, besides the gallery's
    # growth past the retention.
    over_retention: float = 0.0
    kinds: dict[str, float] = field(default_factory=dict)  # bytes per breed by kind of key, largest first

    def text(self) -> str:
        return (f"Redis per finished breed: {self.now / 1024:.0f} KiB now, {self.after_files / 1024:.1f} KiB once "
                f"files expire, {self.after_retention / 1024:.1f} KiB once the breed expires, "
                f"{self.over_retention / 1024:.1f} KiB on average over its retention "
                f"({self.keys_kept:.1f} keys kept for good); largest kinds of key: "
                + ", ".join(f"{kind} {size / 1024:.1f} KiB" for kind, size in list(self.kinds.items())[:8]))


async def redis_bytes(store: Any, finished: int, leave_out: Collection[str] = ()) -> RedisBytes:
    """Sum MEMORY USAGE over every key, by when it expires: the files' TTL, the retention, or never.
    `leave_out`: breeds whose keys are not counted (started but not finished)."""
    redis = store.redis
    total = files_left = kept = kept_keys = 0
    lived = 0.0
    retention_ms = store.breeds.retention_s * 1000
    kinds: Counter[str] = Counter()
    async for key in redis.scan_iter(count=1000):
        if await redis.type(key) == b"stream" or any(breed_id.encode() in key for breed_id in leave_out):
            continue
        size = await redis.memory_usage(key, samples=0) or 0
        ttl = await redis.pttl(key)
        total += size
        kinds[_NUMBER.sub("N", _ID.sub("*", key.decode(errors="replace")))] += size
        lived += size * (1.0 if ttl < 0 else min(ttl, retention_ms) / retention_ms)
        if ttl < 0:  # no expiry: the gallery
            kept += size
            kept_keys += 1
            files_left += size
        elif ttl / 1000 > store.breeds.artifact_ttl_s + 1:  # outlives the files: the breed's state, until its retention
            files_left += size
    per = max(finished, 1)
    return RedisBytes(total / per, files_left / per, kept / per, kept_keys / per, over_retention=lived / per,
                      kinds={kind: size / per for kind, size in kinds.most_common()})
