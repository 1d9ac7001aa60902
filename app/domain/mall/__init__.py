"""The points mall (积分商城): items, orders, flash sales, lottery. Empty until the mall issue
lands."""
