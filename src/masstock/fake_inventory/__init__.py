"""A stand-in for the carrier's logistics stock API, with faults set at will.

``masstock fake-inventory`` serves device lookups from a catalog CSV, so that
the HTTP inventory adapter can be run and tested against a real socket that
misbehaves on demand: slow, hung, reset, truncated, wrong.
"""
