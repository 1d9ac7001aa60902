"""Batch jobs: idempotent, safe to run twice or concurrently, runnable from the CLI."""
