"""The port to Redis: the breed store and its concepts (each naming its own keys), and the codec of
stored values and messages.

Nothing else knows Redis keys.
"""

from redis import exceptions as redis_errors

from storage.breeds import BreedChanges, BreedExistsError
from storage.client import UNAVAILABLE, connect
from storage.locks import LockTimeout
from storage.store import BreedStore, new_breed_id
from storage.streams import Delivery

# What Redis raises for a write beyond its maxmemory: that write (a whole transaction) did not happen.
FULL: tuple[type[Exception], ...] = (redis_errors.OutOfMemoryError,)

__all__ = [
    "FULL", "UNAVAILABLE", "BreedChanges", "BreedExistsError", "BreedStore", "Delivery", "LockTimeout", "connect",
    "new_breed_id",
]
