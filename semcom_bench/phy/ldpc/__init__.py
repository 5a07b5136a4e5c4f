"""5G NR LDPC codes: encoder with rate matching, Sionna's decoder and a fast layered min-sum CPU decoder."""

from semcom_bench.phy.ldpc.code import DECODERS, Decoded, LDPC5G, select_base_graph

__all__ = ["DECODERS", "Decoded", "LDPC5G", "select_base_graph"]
