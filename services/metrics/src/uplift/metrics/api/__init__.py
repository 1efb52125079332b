"""HTTP endpoints of the metrics service (mounted at `/metrics/v1`)."""
