"""How a recstore process keeps running well: the allocator's bounds and the event-loop lag
probe, both started by `recstore.runner`.

May import: the standard library and prometheus_client only."""
