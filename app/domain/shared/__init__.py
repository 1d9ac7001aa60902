"""What every context shares: errors, money, idempotency, the configuration cache, business
units, and the operators' audit trail."""
