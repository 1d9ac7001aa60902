"""The operators' audit trail."""
