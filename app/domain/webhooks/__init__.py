"""Webhooks out (docs/webhooks.md): endpoints partners and operators subscribe
(`endpoints`), messages made from the outbox's events for the endpoints that may have them
(`fan_out`), signed per the Standard Webhooks specification (`signing`), delivered at least
once on a retry schedule with a log of every attempt (`deliveries`). Sending over HTTP is the
dispatcher's (app.jobs.webhooks); this package knows nothing of HTTP."""
