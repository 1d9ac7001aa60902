"""Webhooks out as GraphQL shows them (docs/webhooks.md)."""
