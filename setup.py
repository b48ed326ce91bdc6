"""Build the compiled kernels (everything else is in pyproject.toml)."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension(
            "tokenlq._kernels",
            ["tokenlq/_kernels.pyx"],
            include_dirs=["tokenlq"],
            depends=["tokenlq/_scan.h"],
            # Reassociation lets the row sums vectorize; NaN and inf still propagate through
            # them, which is how the kernels detect non-finite input.
            extra_compile_args=["-O3", "-fno-math-errno", "-fassociative-math", "-fno-signed-zeros",
                                "-fno-trapping-math"],
        )],
        compiler_directives={"language_level": "3"},
    ),
)
