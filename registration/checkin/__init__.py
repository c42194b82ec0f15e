"""Check-in at the door: each confirmed registration's code (codes.py), the arrivals and
their undo (api.py, each audited in its transaction), what the Accueil page reads
(queries.py). Their audit codes, `checkin` and `checkin-undo`, read in French in
backoffice/journal.py."""
