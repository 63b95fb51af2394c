"""setuptools shim: pyproject.toml holds the metadata; this only adds the cffi extension modules."""

from setuptools import setup

setup(cffi_modules=["nvtui/backend/uring/_build.py:ffibuilder"])
