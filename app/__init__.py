"""Big Membership Gateway: one membership, one points currency, across a group's formats."""
