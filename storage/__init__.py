"""The port to Redis: key names, the codec of stored values and messages, and the breed store.

Nothing else knows Redis keys.
"""

from storage.client import connect
from storage.store import BreedExistsError, BreedStore, new_breed_id
from storage.streams import Delivery

__all__ = ["BreedExistsError", "BreedStore", "Delivery", "connect", "new_breed_id"]
