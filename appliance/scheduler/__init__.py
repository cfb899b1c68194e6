"""Outbound aftercare and recall calls: plans from the protocol pack, a pure scheduling policy,
a durable queue in the encrypted database, and the component that places the calls."""
