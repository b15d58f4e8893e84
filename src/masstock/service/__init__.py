"""The use cases: what a dealer or an operator can ask of the service."""
