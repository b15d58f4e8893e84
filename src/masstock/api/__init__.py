"""The HTTP API: parse, call a use case, render. Nothing else."""
