"""The points ledger: the one writer every points movement goes through (postings that sum to
zero, lots, allocations, the member's balance row), expiry and the ledger's own audit."""
