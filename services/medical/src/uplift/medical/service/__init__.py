"""Use cases of the medical service: they work inside a unit of work and never commit (the caller does)."""
