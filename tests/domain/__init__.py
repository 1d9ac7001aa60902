"""Domain functions on a real PostgreSQL (a fresh database per run, cleaned between tests)."""
