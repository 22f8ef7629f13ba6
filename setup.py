"""Builds the data-plane extension lb._core from ext/core.pyx (Cython is a build requirement),
and lb._compose, the manifest loader's libyaml fast path, when libyaml's headers are present
(Debian: libyaml-dev). Without them lb loads manifests through PyYAML alone, only slower."""
import os
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup

DIRECTIVES = {"language_level": 3, "boundscheck": False, "wraparound": False}

core = Extension(
    "lb._core",
    sources=["ext/core.pyx"],
    include_dirs=["ext"],
    extra_compile_args=["-O2", "-D_GNU_SOURCE"],
    libraries=["pthread"],
)
compose = Extension(
    "lb._compose",
    sources=["ext/compose/compose.pyx"],
    extra_compile_args=["-O2"],
    libraries=["yaml"],
)


def _have_libyaml() -> bool:
    dirs = [sysconfig.get_config_var("INCLUDEDIR") or "", "/usr/include", "/usr/local/include"]
    dirs += os.environ.get("CPATH", "").split(os.pathsep)
    return any(d and os.path.exists(os.path.join(d, "yaml.h")) for d in dirs)


extensions = [core] + ([compose] if _have_libyaml() else [])
setup(ext_modules=cythonize(extensions, include_path=["ext"], compiler_directives=DIRECTIVES))
