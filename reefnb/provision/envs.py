"""Named environments: virtual environments under ``$REEF_HOME/envs`` with a Jupyter kernel each.

An environment is complete only when its ``reef-env.json`` exists: it is written last, and a
failed or interrupted creation removes the folder, so nothing half-made is left behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from reefnb.common.exceptions import EnvError, EnvFailed
from reefnb.common.files import write_json_object
from reefnb.common.paths import envs_home
from reefnb.common.tool_output import run_tool
from reefnb.common.version import __version__
from reefnb.kernel import KERNEL_PART
from reefnb.provision.requirements import hash_key, hash_lines

log = logging.getLogger(__name__)

ENV_FILE = "reef-env.json"
KERNEL_PREFIX = "reef-"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass
class Environment:
    """A reef environment: its folder, interpreter, kernel and the packages asked for."""

    name: str
    path: str
    python: str
    kernel: str
    packages: list[str] = field(default_factory=list)
    python_version: str = ""
    created: str = ""
    installer: str = ""

    @property
    def bin(self) -> Path:
        return Path(self.path) / ("Scripts" if os.name == "nt" else "bin")


def kernel_name(name: str) -> str:
    """The Jupyter kernel of environment ``name``: ``reef-<name>``."""
    return f"{KERNEL_PREFIX}{name}"


def kernel_for(name: str, path: Path | str) -> str:
    """The kernel to register for environment ``name`` made at ``path``: ``reef-<name>``, unless that kernel runs
    another home's environment that is still there; then ``reef-<name>-<8 hex digits of this home>``.

    Kernelspecs live in the user's one Jupyter data folder, while ``REEF_HOME`` may differ between calls
    (``REEF_HOME=$(mktemp -d) reef init``): a second home must not take the first one's kernel away."""
    wanted = kernel_name(name)
    if not _runs_another_environment(wanted, path):
        return wanted
    home = hashlib.sha256(str(Path(path).resolve().parent).encode()).hexdigest()[:8]
    return f"{wanted}-{home}"


def _runs_another_environment(kernel: str, path: Path | str) -> bool:
    """Whether the user's kernelspec ``kernel`` runs an environment other than the one at ``path`` that is still
    there (a kernel reef did not make, or whose environment is gone, runs none)."""
    owner = _kernel_owner(kernel)
    return owner is not None and not _same_folder(owner, path) and Path(owner).is_dir()


def _user_kernel_file(kernel: str) -> Path:
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "kernels" / kernel.lower() / "kernel.json"


def _kernel_owner(kernel: str) -> str | None:
    """The environment folder (``VIRTUAL_ENV``) that the user's kernelspec ``kernel`` runs, None when there is
    no such kernelspec or it names none (reef did not make it)."""
    try:
        spec = json.loads(_user_kernel_file(kernel).read_text(encoding="utf-8"))
        owner = spec.get("env", {}).get("VIRTUAL_ENV")
    except (OSError, ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) and owner else None


def _same_folder(first: Path | str, second: Path | str) -> bool:
    return os.path.realpath(first) == os.path.realpath(second)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise EnvError(f"environment name {name!r}: use lower-case letters, digits, '.', '_' and '-' (at most 64)")
    return name


def get_environment(name: str) -> Environment:
    """A complete environment by name; EnvError listing the known ones otherwise."""
    check_name(name)
    meta = envs_home() / name / ENV_FILE
    if not meta.is_file():
        known = ", ".join(env.name for env in list_environments()) or "none"
        raise EnvError(f"no environment '{name}' (known: {known}); create it with `reef env create {name} PKG...`")
    return Environment(**json.loads(meta.read_text(encoding="utf-8")))


def list_environments() -> list[Environment]:
    """The complete environments, by name.

    An environment whose description cannot be read is left out with a warning; one whose creation did
    not finish has none and is not listed.

    Returns
    -------
    list of Environment
        The environments under ``$REEF_HOME/envs``, sorted by name.
    """
    home = envs_home()
    found = []
    for meta in sorted(home.glob(f"*/{ENV_FILE}")) if home.is_dir() else []:
        try:
            found.append(Environment(**json.loads(meta.read_text(encoding="utf-8"))))
        except (ValueError, TypeError) as error:
            log.warning("%s: unreadable environment description: %s", meta, error)
    return found


def installer() -> str:
    """``uv`` when available (next to this interpreter or on PATH), else ``pip``; REEF_INSTALLER forces one."""
    return "uv" if uv_executable() else "pip"


def uv_executable() -> str | None:
    if os.environ.get("REEF_INSTALLER", "").strip().lower() == "pip":
        return None
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("uv")


def create_environment(
    name: str,
    packages: list[str] | tuple[str, ...] = (),
    python: str | None = None,
    pip_options: list[str] | None = None,
    replace: bool = False,
    hashes: dict | None = None,
) -> Environment:
    """Create environment ``name`` with ``packages`` (PEP 508 strings), ipykernel and reefnb.

    The environment is a virtual environment in ``$REEF_HOME/envs/NAME`` (made with uv when available,
    else venv and pip), with reefnb's kernel part (see ``install_reefnb``) and a Jupyter kernel
    ``reef-NAME`` registered for it. A creation that fails leaves nothing behind.

    Parameters
    ----------
    name
        The environment's name: lower-case letters, digits, ``.``, ``_`` and ``-`` (at most 64).
    packages
        PEP 508 requirement strings to install.
    python
        The interpreter to base it on (default: this one).
    pip_options
        Options for the installer (e.g. ``["--find-links", DIR, "--no-index"]``).
    replace
        Remove an existing environment of that name first; otherwise its existence is an error.
    hashes
        A lock's ``{"name==version": ["sha256:..."]}``: installs ``packages`` in hash-checking mode
        (see ``install_packages``), after ipykernel from the user's own index.

    Returns
    -------
    Environment
        The new environment: its folder, interpreter, kernel and the packages asked for.

    Raises
    ------
    EnvError
        When ``name`` is not usable, the environment exists and ``replace`` is not given, or an
        installation fails.
    """
    check_name(name)
    target = envs_home() / name
    if (target / ENV_FILE).exists():
        if not replace:
            raise EnvError(f"environment '{name}' already exists at {target} (remove it first, or replace it)")
        remove_environment(name)
    elif target.exists():  # a creation that did not finish: nothing of it is trusted
        shutil.rmtree(target)
    base = python or sys.executable
    tool = installer()
    target.parent.mkdir(parents=True, exist_ok=True)
    kernel = kernel_for(name, target)
    try:
        _make_venv(base, target, tool)
        interpreter = str(target / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
        if hashes is None:
            install_packages(interpreter, ["ipykernel", *packages], pip_options)
        else:
            install_packages(interpreter, ["ipykernel"], pip_options)
            install_packages(interpreter, list(packages), pip_options, hashes=hashes)
        install_reefnb(interpreter)
        version = _python_version(interpreter)
        environment = Environment(
            name=name,
            path=str(target),
            python=interpreter,
            kernel=kernel,
            packages=list(packages),
            python_version=version,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            installer=tool,
        )
        register_kernel(environment)
        write_json_object(target / ENV_FILE, asdict(environment))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        _remove_kernel(kernel, target)
        raise
    log.info("created environment %s at %s", name, target)
    return environment


def install_packages(
    python: str, packages: list[str], pip_options: list[str] | None = None, hashes: dict | None = None
) -> None:
    """Install ``packages`` into the environment of interpreter ``python`` (uv or pip).

    With ``hashes`` (a lock's ``{"name==version": ["sha256:..."]}``) the installer runs in
    hash-checking mode and takes wheels only (``--require-hashes --only-binary :all:``): every
    distribution it installs, dependencies included, must match a recorded sha256. uv reads the
    hashes as constraints, so only what ``packages`` need is installed; pip, which takes no hashes
    from constraints, gets every hashed entry as a requirement.
    """
    if not packages:
        return
    if hashes is not None:
        _install_hashed(python, packages, pip_options, hashes)
        return
    _call(
        _install_command(python, uv_executable(), *(pip_options or []), *packages), f"installing {', '.join(packages)}"
    )


HASH_CHECKING = ["--require-hashes", "--only-binary", ":all:"]


def _install_command(python: str, uv: str | None, *arguments: str) -> list[str]:
    """The installer's command that installs into the environment of ``python``: ``uv pip install`` (bytecode
    compiled, as pip does) where uv is found, else that python's pip; ``arguments`` after it."""
    if uv:
        return [uv, "pip", "install", "--python", python, "--compile-bytecode", *arguments]
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *arguments]


def _install_hashed(python: str, packages: list[str], pip_options: list[str] | None, hashes: dict) -> None:
    uv = uv_executable()
    with tempfile.TemporaryDirectory(prefix="reef-hashed-") as scratch:
        wanted, constraints = Path(scratch) / "requirements.txt", Path(scratch) / "constraints.txt"
        constraints.write_text("".join(f"{line}\n" for line in hash_lines(hashes)), encoding="utf-8")
        if uv:  # uv takes the hashes as constraints: only what ``packages`` need is installed
            wanted.write_text("".join(f"{line}\n" for line in packages), encoding="utf-8")
            requirements = ["-r", str(wanted), "-c", str(constraints)]
        else:  # pip takes no hashes from constraints: every hashed entry is a requirement
            requirements = ["-r", str(constraints)]
        command = _install_command(python, uv, *HASH_CHECKING, *(pip_options or []), *requirements)
        _call(command, f"installing {', '.join(packages)} (hash-checked wheels)")


def locked_hashes(
    python: str, requested: dict[str, str], installed: dict[str, str], pip_options: list[str] | None = None
) -> dict[str, list[str]]:
    """The sha256 of the distributions of ``requested`` (name -> version) and their dependencies,
    as a lock's ``hashes``: ``{"name==version": ["sha256:...", ...]}``.

    The index (and ``pip_options``: find-links folders) are asked for the exact versions
    ``installed`` in the environment; nothing is installed. uv resolves with
    ``uv pip compile --generate-hashes`` (hashes of local files are computed, an index's are read
    from its listing); pip with ``pip install --dry-run --report`` (hashes of the files it would use).
    Raises EnvError when the installer cannot resolve them (offline, a package not on the index).
    """
    from packaging.utils import canonicalize_name

    if not requested:
        return {}
    pins = {
        canonicalize_name(name): version for name, version in installed.items() if canonicalize_name(name) != "reefnb"
    }
    uv = uv_executable()
    with tempfile.TemporaryDirectory(prefix="reef-hashes-") as scratch:
        folder = Path(scratch)
        wanted, constraints, _ = _hashing_files(folder)
        wanted.write_text(
            "".join(f"{canonicalize_name(name)}=={version}\n" for name, version in sorted(requested.items())),
            encoding="utf-8",
        )
        constraints.write_text(
            "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())), encoding="utf-8"
        )
        if uv:
            return _uv_hashes(uv, python, pip_options or [], folder)
        return _pip_hashes(python, pip_options or [], folder)


def _hashing_files(scratch: Path) -> tuple[Path, Path, Path]:
    """The files of one hashing in its scratch folder: the requested
    pins, the installed ones (constraints), the installer's output."""
    return scratch / "requested.in", scratch / "constraints.txt", scratch / "out"


def _uv_hashes(uv: str, python: str, pip_options: list[str], scratch: Path) -> dict[str, list[str]]:
    """The hashes ``uv pip compile --generate-hashes`` writes for the pins in ``scratch``."""
    wanted, constraints, output = _hashing_files(scratch)
    command = [
        uv,
        "pip",
        "compile",
        "--quiet",
        "--python",
        python,
        "--generate-hashes",
        *pip_options,
        "-c",
        str(constraints),
        "-o",
        str(output),
        str(wanted),
    ]
    _call(command, "hashing the locked packages")
    return _compiled_hashes(output.read_text(encoding="utf-8"))


def _pip_hashes(python: str, pip_options: list[str], scratch: Path) -> dict[str, list[str]]:
    """The hashes of the files ``pip install --dry-run --report`` would install for the pins in ``scratch``."""
    wanted, constraints, output = _hashing_files(scratch)
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--dry-run",
        "--ignore-installed",
    ]
    _call(
        [*command, "--report", str(output), *pip_options, "-r", str(wanted), "-c", str(constraints)],
        "hashing the locked packages",
    )
    report = json.loads(output.read_text(encoding="utf-8"))
    hashes = {}
    for item in report.get("install", []):
        digest = (((item.get("download_info") or {}).get("archive_info") or {}).get("hashes") or {}).get("sha256")
        if digest:
            hashes[hash_key(item["metadata"]["name"], item["metadata"]["version"])] = [f"sha256:{digest}"]
    return dict(sorted(hashes.items()))


def _compiled_hashes(text: str) -> dict[str, list[str]]:
    """``{"name==version": ["sha256:..."]}`` from a requirements file that ``--generate-hashes`` wrote."""
    hashes: dict[str, list[str]] = {}
    for entry in re.split(r"\n(?=\S)", text.replace("\\\n", " ")):
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", entry)
        digests = re.findall(r"--hash=(sha256:[0-9a-f]{64})", entry)
        if match and digests:
            hashes[hash_key(match.group(1), match.group(2))] = sorted(set(digests))
    return dict(sorted(hashes.items()))


PACKAGE = Path(__file__).resolve().parent.parent  # reefnb's folder, where the kernel part is copied from


def install_reefnb(python: str) -> None:
    """Make reefnb's kernel part importable in another environment, without its dependencies.

    Kernels need only the modules of ``reefnb.kernel.KERNEL_PART`` (standard library, IPython and
    ``packaging``, which ipykernel brings): ``reefnb.record``, ``attach``, ``run_folder``,
    ``fetch_artifact``, the LoadGen harness and reef's exceptions (``KERNEL_API``). Those files are
    copied with a small dist-info, rather than installing reefnb with pandas and papermill there too.
    The rest of the API says it is not there.
    """
    site = Path(_run_python(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    target = site / "reefnb"
    if target.exists():
        shutil.rmtree(target)
    for relative in kernel_part_files():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE / relative, target / relative)
    info = site / f"reefnb-{__version__}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: reefnb\nVersion: {__version__}\n", encoding="utf-8")
    (info / "INSTALLER").write_text("reefnb\n", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")


def kernel_part_files() -> list[Path]:
    """The files of ``KERNEL_PART``, relative to the package's folder (``reefnb.kernel`` -> ``kernel/__init__.py``)."""
    files = []
    for module in KERNEL_PART:
        relative = Path(*module.split(".")[1:])
        files.append(relative / "__init__.py" if (PACKAGE / relative).is_dir() else relative.with_suffix(".py"))
    return files


def register_kernel(environment: Environment) -> str:
    """Register the Jupyter kernelspec ``environment.kernel`` (see ``kernel_for``) that runs the environment's own
    python, in the user's Jupyter data folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    # a second home's kernel of the same environment name (see kernel_for) says which home it runs
    where = "" if environment.kernel == kernel_name(environment.name) else f", {Path(environment.path).parent.parent}"
    spec = {
        "argv": [environment.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {environment.python_version} (reef: {environment.name}{where})",
        "language": "python",
        "env": {"VIRTUAL_ENV": environment.path, "PATH": f"{environment.bin}{os.pathsep}${{PATH}}"},
        "metadata": {"reef": {"environment": environment.name}, "debugger": True},
    }
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / environment.kernel
        folder.mkdir()
        (folder / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        return KernelSpecManager().install_kernel_spec(str(folder), environment.kernel, user=True)


def remove_environment(name: str) -> None:
    """Remove an environment's folder and its kernelspec.

    Parameters
    ----------
    name
        The environment's name.

    Raises
    ------
    EnvError
        When there is no environment of that name (the message lists the known ones).
    """
    check_name(name)
    target = envs_home() / name
    if not target.exists():
        known = ", ".join(env.name for env in list_environments()) or "none"
        raise EnvError(f"no environment '{name}' (known: {known})")
    try:
        kernel = get_environment(name).kernel
    except (EnvError, TypeError, ValueError):  # an unreadable description: the usual name
        kernel = kernel_name(name)
    shutil.rmtree(target)
    _remove_kernel(kernel, target)


def _remove_kernel(kernel: str, path: Path | str) -> None:
    """Remove kernelspec ``kernel`` when it runs the environment at ``path`` (or one that is gone): another
    home's kernel of the same name stays."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    if _runs_another_environment(kernel, path):
        return
    try:
        KernelSpecManager().remove_kernel_spec(kernel)
    except (NoSuchKernel, KeyError, OSError):
        pass


def _make_venv(base: str, target: Path, tool: str) -> None:
    if tool == "uv":
        _call(
            [uv_executable(), "venv", "--quiet", "--seed", "--python", base, str(target)],
            "creating the virtual environment",
        )
    else:
        _call([base, "-m", "venv", str(target)], "creating the virtual environment")


def _python_version(python: str) -> str:
    return _run_python(python, "import platform; print(platform.python_version())")


def _run_python(python: str, code: str) -> str:
    try:
        done = run_tool([python, "-c", code], 60)
    except OSError as error:
        raise EnvFailed(f"{python}: cannot run this interpreter: {error}") from None
    if done.returncode != 0 or done.cut:
        why = "no answer in 60 s" if done.timed_out else "said too much" if done.cut else f"exit {done.returncode}"
        raise EnvFailed(f"{python}: cannot run this interpreter: {why}")
    return done.stdout.strip()


def _call(command: list, what: str) -> None:
    log.info("%s: %s", what, " ".join(map(str, command)))
    environment = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:  # an install may say a lot (a package's build): its last megabyte holds the error
        done = run_tool([str(part) for part in command], None, keep_tail=True, env=environment)
    except OSError as error:
        raise EnvFailed(f"{what} failed: {error}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        last = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
        causes = (
            lines[lines.index(last) + 1 :][:6] if last in lines else []
        )  # uv's "cause:", expected and computed hashes
        reason = " ".join(" ".join([last, *causes]).split())
        raise EnvFailed(f"{what} failed (exit {done.returncode}): {reason[:800]}")
