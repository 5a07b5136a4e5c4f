"""Importance labelers: mllm, heuristic, static."""
