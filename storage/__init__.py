"""The port to Redis: key names, message schemas and the breed store. Nothing else knows Redis keys."""
