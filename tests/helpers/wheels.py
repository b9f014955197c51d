"""Build tiny pure-python wheels in tests, by hand, so installs need no package index."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """A wheel of one module ``name.replace('-', '_')`` holding ``source``."""
    return make_wheel_of_files(folder, name, version, {f"{name.replace('-', '_')}.py": source})


def make_wheel_of_files(folder: Path, name: str, version: str, contents: dict[str, str]) -> Path:
    """A wheel holding ``contents`` ({path in the wheel: text}) and its metadata, without ``top_level.txt``
    (as wheels built by meson-python, hatchling or flit)."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        **contents,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: reefnb-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
