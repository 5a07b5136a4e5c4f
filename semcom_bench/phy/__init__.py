"""Physical layer: channels, power normalisation, quantiser, QAM, LDPC, capacity."""
