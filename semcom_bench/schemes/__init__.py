"""Transmission schemes behind one interface: separation and capacity bound here; JSCC schemes with the harness."""
