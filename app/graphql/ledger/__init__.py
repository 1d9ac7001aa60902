"""Live updates of a member's points (Subscription.pointsChanged)."""
