"""The pytest plugin of the end-to-end scenarios; scenarios/conftest.py hands its names to pytest."""
