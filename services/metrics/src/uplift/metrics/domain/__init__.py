"""The metrics domain: periods, scopes, projection facts, indicator definitions and assessments (no I/O)."""
