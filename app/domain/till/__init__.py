"""The till: price an order in points, earn, spend, and reverse. Till rules (order reference,
daily cap, share of the order) live here; points move only through app.domain.ledger."""
