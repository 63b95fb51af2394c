"""The nvtui test VM harness: tests/vm/README.md."""
