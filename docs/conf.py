"""Sphinx configuration: Markdown pages (MyST), the API from numpydoc docstrings (autodoc +
napoleon) and benchmark pages generated from ``bench/results/`` (``_ext/bench_results.py``).

The build is offline (no intersphinx, nothing fetched) and is tested with warnings as errors:
``python -m sphinx -W --keep-going -b html docs docs/_build`` (``tests/test_docs.py``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import tokenlq  # noqa: E402 (the installed package, kernels built)

project = "tokenlq"
release = version = tokenlq.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "bench_results",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # links such as [..](labelstudio.md#who-may-call-webhook)

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "alabaster"  # ships with Sphinx: nothing to fetch
html_title = f"tokenlq {release}"
html_theme_options = {"page_width": "95%", "body_max_width": "none"}  # the wide bench tables
html_static_path = ["_static"]
html_css_files = ["tables.css"]
