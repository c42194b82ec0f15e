"""Organisers and admins: `api` (staff actions, each audited in its transaction), `queries`."""
