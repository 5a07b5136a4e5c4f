"""Transmission schemes behind one interface: Deep JSCC, NTSCC, the separation baseline; plus the capacity bound."""

# Importing the scheme modules fills the SCHEMES registry in schemes.base.
from semcom_bench.schemes import deepjscc, ntscc, separation  # noqa: F401
