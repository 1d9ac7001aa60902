"""Tiers: the ladder, a member's standing and history, grantTier."""
