"""The peers Dock is compared with in `bench/cases_peers.py`: django-guardian's
per-object permission rows, django-auditlog, DRF's TokenAuthentication and
django-rest-knox. Installed for benchmarks only (requirements-bench.txt) and known only
to bench/settings.py; the product's settings never load this app."""
