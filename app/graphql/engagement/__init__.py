"""Engagement: recordActivity (check-in, share, review, survey), progress and the rules."""
