"""reefnb's version (one place: the package, the dist-info copied into kernel environments, records)."""

__version__ = "0.1.0"
