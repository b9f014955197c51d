"""Processes a test leaves behind on purpose (escapes, orphans), found by a marker in their command line."""

from __future__ import annotations

import secrets

import psutil


def marker() -> str:
    """A `sleep` argument no other process has: 300 seconds and a random fraction."""
    return f"300.{secrets.randbelow(10**9):09d}"


def alive(mark: str) -> list[psutil.Process]:
    """The live processes (zombies apart) whose command line holds ``mark``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if mark in (process.info["cmdline"] or []) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found
