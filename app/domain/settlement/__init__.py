"""Settlement (结算通): allocation of spent points to their issuers and funders, statements per
period. Empty until the settlement issue lands."""
