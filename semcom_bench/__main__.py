"""`python -m semcom_bench` runs the CLI."""

from semcom_bench.cli import main

main()
