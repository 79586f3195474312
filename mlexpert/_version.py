"""The package version, in one place (read by the bundle manifest and pyproject)."""
__version__ = "0.1.0"
