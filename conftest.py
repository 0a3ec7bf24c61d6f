"""pytest setup shared by the unit tests and the notebooks (nbval).

The notebook kernels that nbval starts inherit this process's environment. One
BLAS thread is faster for this project's small matrices and keeps the run steady
when the two cores are busy with something else; it does not change any result
(OpenBLAS splits a matrix product by output blocks, never along the summed axis).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
