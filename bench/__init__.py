"""The benchmark of tap-x-dm (`python -m bench`); not part of the test suite."""
