"""Webhooks out: endpoints, signed deliveries fed by the outbox. Empty until the webhooks issue
lands."""
