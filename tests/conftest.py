"""Suite-wide settings. One BLAS/OpenMP thread per test process: pytest-xdist already runs one
process per core, and oversubscribed torch threads slow CPU tests down several times over.
Set here, before torch is imported, so subprocesses (the `olab` CLI in end-to-end tests) inherit it."""

import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")
