"""pytest setup shared by the unit tests and the notebooks (nbval).

The notebook kernels that nbval starts inherit this process's environment:

* Figures go to a temporary folder (nn.figures_dir() reads NN_FROM_SCRATCH_FIGURES),
  removed when the run ends, so running the tests never rewrites the committed PNGs in
  figures/. Their bytes
  can differ between machines: another OpenBLAS kernel moves the last bits of a
  product, and an anti-aliased pixel with them.
* One BLAS thread: faster for this project's small matrices and steadier when the
  two cores are busy. It can change the last bits of a product (another split of
  the work); every printed number is rounded well above that.
"""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
_figures = tempfile.mkdtemp(prefix="nn_from_scratch_figures_")
os.environ["NN_FROM_SCRATCH_FIGURES"] = _figures
atexit.register(shutil.rmtree, _figures, ignore_errors=True)     # each process removes its own


def pytest_collection_modifyitems(items):
    """The notebooks first, the unit tests after them: a notebook runs for 2 to 24 s and
    a unit-test file for about one, so the short files fill the gaps at the end and
    both workers finish together. The sort is stable: every notebook's cells keep their
    order, as nbval needs. (pyproject.toml turns off xdist's own reordering, by number
    of tests, which would put the long notebooks last.)"""
    items.sort(key=lambda item: not item.nodeid.startswith("notebooks/"))
