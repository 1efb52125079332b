"""The registry's HTTP API: one router module per resource."""
