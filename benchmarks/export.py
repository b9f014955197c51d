"""Export throughput: writing a package with a 400 MB incompressible data file, against `sha256sum` + `cp` of it.

Times reefnb.sharing.package's zip writer (the members sorted, fixed times, stored when the first MiB does not deflate)
on one random 400 MB member plus a small notebook-like text member, best of 3, against `sha256sum FILE` followed
by `cp FILE COPY` (the least any export must do: read the bytes, hash them, write them). Goal (issue 18): <= 2x.
Run: .venv/bin/python benchmarks/export.py [MEGABYTES]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from timing import best_of

from reefnb.sharing.package import _write_zip


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data = folder / "weights.bin"
        data.write_bytes(os.urandom(megabytes << 20))
        text = ('{"cells": [' + ",".join(f'{{"source": "print({index})"}}' for index in range(20000)) + "]}").encode()

        def baseline() -> None:
            subprocess.run(["sha256sum", str(data)], check=True, capture_output=True)
            subprocess.run(["cp", str(data), str(folder / "copy.bin")], check=True)

        def export() -> None:
            _write_zip(folder / "out.reef.zip", {"data/weights.bin": data.read_bytes(), "main.ipynb": text})

        theirs, _ = best_of(baseline)
        ours, _ = best_of(export)
        with zipfile.ZipFile(folder / "out.reef.zip") as archive:
            kinds = {info.filename: "stored" if info.compress_type == zipfile.ZIP_STORED else "deflated" for info in archive.infolist()}
        print(
            f"{megabytes} MB random + {len(text) // 1000} kB text: export {ours:.2f} s; sha256sum + cp {theirs:.2f} s; "
            f"ratio {ours / theirs:.2f}x; members: {kinds}"
        )


if __name__ == "__main__":
    main()
