"""Anti-abuse for operators: abuse flags and their review."""
