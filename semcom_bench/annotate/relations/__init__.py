"""Relation predictors: geometric, mllm, gt."""
