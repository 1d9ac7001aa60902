"""Campaigns: which campaigns an order meets, their budgets and caps; operators' edits and
simulations."""
