"""Builds the data-plane extension lb._core from ext/core.pyx (Cython is a build requirement)."""
from Cython.Build import cythonize
from setuptools import Extension, setup

core = Extension(
    "lb._core",
    sources=["ext/core.pyx"],
    include_dirs=["ext"],
    extra_compile_args=["-O2", "-D_GNU_SOURCE"],
    libraries=["pthread"],
)

setup(
    ext_modules=cythonize(
        [core],
        include_path=["ext"],
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
    ),
)
