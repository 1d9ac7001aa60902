"""Anti-abuse: velocity limits, shared devices, refund loops, and the operators' review."""
