"""Provisioning: detect software, resolve requirements, create environments, fetch artifacts, ``reef init``."""
