"""Rights (权益通): the catalogue each format offers, members' wallets, vouchers, write-off.
Empty until the rights issue lands."""
