"""Test doubles that are real servers: used by the tests and the benchmarks, never by the pipeline."""
