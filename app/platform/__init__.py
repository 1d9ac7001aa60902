"""What every context stands on: the database (embedded or real) and its driver for fixed SQL,
the unit of work and its outbox, Redis pub/sub, metrics and logs. Knows no loyalty rule and
imports nothing of the domain (checked by lint-imports)."""
