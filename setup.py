"""setuptools entry: runs build.py before packaging, for pip install . and -e ."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build as native_build  # noqa: E402  (build.py beside this file)


class BuildNative(build_py):
    """Build llama.cpp, the shim and the cffi extension, then copy the package."""

    def run(self):
        try:
            native_build.build()
        except native_build.BuildError as error:
            raise SystemExit(f"llamamtp build failed: {error}") from error
        super().run()


class BinaryDistribution(Distribution):
    """The wheel carries native libraries, so it is platform-specific."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildNative}, distclass=BinaryDistribution)
