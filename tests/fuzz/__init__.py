"""Helpers for the hardening tests: generators of broken input, a recording backend, namespace checksums."""
