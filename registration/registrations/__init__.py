"""Registering to an event: `api` (the operations), `rules` (check_*), `seats`, `exceptions`."""
