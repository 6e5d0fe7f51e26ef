"""The port to Redis: key names, the codec of stored values and messages, and the breed store.

Nothing else knows Redis keys.
"""

from redis import exceptions as redis_errors

from storage.client import connect
from storage.store import BreedExistsError, BreedStore, new_breed_id
from storage.streams import Delivery

# What Redis raises while it is away, restarting or loading its data: wait and try again.
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError,
)

__all__ = ["UNAVAILABLE", "BreedExistsError", "BreedStore", "Delivery", "connect", "new_breed_id"]
