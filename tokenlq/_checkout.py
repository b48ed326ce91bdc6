"""What to do when Python imports a source checkout whose kernels are not compiled.

Python looks in the current directory (or ``PYTHONPATH``) before site-packages, so in a clone's
root ``import tokenlq`` finds the source tree, which shadows an installed tokenlq. Only an
editable install compiles the kernels into the source tree; without them the first import of
``tokenlq._kernels`` fails with a misleading "circular import" message.
"""

import importlib.machinery
import importlib.util
import os
import sys


def check_kernels(package: str, here: str) -> None:
    """Raise an ImportError that says what to do when ``here`` is a source tree without kernels.

    Parameters
    ----------
    package : str
        The package's name, ``tokenlq``.
    here : str
        The folder the package was imported from.

    Raises
    ------
    ImportError
        When ``here`` is a checkout's package folder (its parent holds ``setup.py``, which
        compiles the kernels) without a compiled ``_kernels`` module. An installed copy is not
        checked: if its kernels are missing, Python's own error is the one to read.
    """
    checkout = os.path.dirname(here)
    if (importlib.util.find_spec(f"{package}._kernels") is not None
            or not os.path.exists(os.path.join(checkout, "setup.py"))):
        return
    pip = f"{sys.executable} -m pip install -e {checkout}"
    # The package Python would import without the checkout on sys.path (its egg-info, left by a
    # non-editable install, would name the checkout itself, so no metadata lookup).
    others = [p for p in sys.path
              if os.path.isdir(p or ".") and not os.path.samefile(p or ".", checkout)]
    spec = importlib.machinery.PathFinder.find_spec(package, others)
    installed = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None
    message = f"tokenlq's compiled kernels are not built in the source tree {here}"
    if installed:
        message += (f", which shadows the tokenlq installed in {installed} because {checkout} "
                    "comes first on sys.path (it is the current directory, or on PYTHONPATH). "
                    f"Run Python from another directory, or build the kernels in place: {pip}")
    else:
        message += f". Build them in place (an editable install): {pip}"
    raise ImportError(message, name=f"{package}._kernels", path=here)
