"""The points mall (积分商城): the catalogue (catalogue), orders with their payment, shipment,
cancellation and expiry (orders), the history read in batches (history), the flash sale's gate
and the lottery."""
