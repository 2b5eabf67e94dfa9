"""Backends that each break one conformance rule, for irisfw's own tests."""
