"""seaboxd's in-process event exchange (publish, forward, subscribe with filters)."""
