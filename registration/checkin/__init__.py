"""Check-in at the door: each confirmed registration's code (codes.py), the arrivals and
their undo (api.py, each audited in its transaction), what the Accueil page reads
(queries.py)."""

# The audit log's codes, and how they read in French (backoffice/journal.py maps them).
AUDIT_LABELS = {
    "checkin": "Arrivée enregistrée",
    "checkin-undo": "Arrivée annulée",
}
