"""The demo group's seed: organisation, people, months of history, campaigns, format data."""
