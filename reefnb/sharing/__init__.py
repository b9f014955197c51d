"""Sharing: export/import packages, git registries, pinned versions and signatures, shared results."""
