"""What every context stands on: the database (embedded or real) and its driver for fixed SQL,
the unit of work, Redis pub/sub, credentials, metrics and logs. Knows no loyalty rule."""
