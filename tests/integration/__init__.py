"""Integration tests on the real testbed (tests/infra/up.sh)."""
