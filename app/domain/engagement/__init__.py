"""Engagement: points for what members do besides buying (check-ins, shares, reviews, surveys,
registration, referrals, birthdays), with caps and streaks."""
