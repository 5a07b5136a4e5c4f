"""semcom-bench: labels, human review and a fair benchmark for importance-aware semantic communication."""

__version__ = "0.1.0"
