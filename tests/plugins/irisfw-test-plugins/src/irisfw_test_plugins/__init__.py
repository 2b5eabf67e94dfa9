"""Test-only irisfw plugins that fail in controlled ways."""
