"""The port to Redis: key names, message schemas and the breed store. Nothing else knows Redis keys."""

from storage.client import connect
from storage.store import BreedExistsError, BreedStore, new_breed_id
from storage.streams import Delivery

__all__ = ["BreedExistsError", "BreedStore", "Delivery", "connect", "new_breed_id"]
