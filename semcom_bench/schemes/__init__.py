"""Transmission schemes behind one interface: Deep JSCC, NTSCC, the separation baseline; plus the capacity bound."""

import warnings

# compressai imports torch_geometric, which calls the deprecated torch.jit.script at import: a FutureWarning on every
# command that loads a scheme, which no user can act on. Importing it here, once, silences just that one.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    import compressai  # noqa: F401

# Importing the scheme modules fills the SCHEMES registry in schemes.base.
from semcom_bench.schemes import deepjscc, ntscc, separation  # noqa: E402, F401
from semcom_bench.schemes import inscom  # noqa: E402, F401
from semcom_bench.schemes import saoosc  # noqa: E402, F401
from semcom_bench.schemes import dlm  # noqa: E402, F401
from semcom_bench.schemes import lightweight  # noqa: E402, F401
