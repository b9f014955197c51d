"""Which Jupyter kernel runs a notebook in its own language on this machine as it is.

``reef reproduce --env native`` runs a solution on this machine without making an environment: a
Python notebook on this interpreter's ``python3`` kernel, a notebook in another language (Julia, R,
bash, ...) on the kernel it names. A kernel that is not installed stops everything before a cell
runs, with one line saying which kernel is missing and how to get it: a notebook never runs in a
kernel of another language.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import NotebookError, ReefError
from reefnb.solution.notebook import notebook_language, read_notebook

log = logging.getLogger(__name__)

PYTHON_KERNEL = "python3"  # jupyter_client runs this kernelspec's "python" as the current interpreter
PYTHON_LANGUAGES = frozenset({"python", "python3", "ipython", "ipython3"})

# language -> (the kernel usually installed for it, the command that installs it and registers its kernelspec)
KNOWN_KERNELS = {
    "bash": ("the 'bash' kernel", "pip install bash_kernel && python -m bash_kernel.install"),
    "julia": ("IJulia", "julia -e 'using Pkg; Pkg.add(\"IJulia\")'"),
    "r": ("IRkernel", "R -e 'install.packages(\"IRkernel\"); IRkernel::installspec()'"),
    "rust": ("evcxr", "cargo install --locked evcxr_jupyter && evcxr_jupyter --install"),
    "go": ("GoNB", "go install github.com/janpfeifer/gonb@latest && gonb --install"),
    "typescript": ("Deno's kernel", "deno jupyter --install"),
    "javascript": ("IJavascript", "npm install -g ijavascript && ijsinstall"),
    "octave": ("octave_kernel", "pip install octave_kernel"),
    "c++": ("xeus-cling", "conda install -c conda-forge xeus-cling"),
}


def is_python(language: str) -> bool:
    """Whether a notebook's language (as ``notebook_language`` gives it) is Python."""
    return language.lower() in PYTHON_LANGUAGES


def notebook_kernel(notebook: Any) -> dict:
    """What a notebook says of its kernel: ``name`` and
    ``display_name`` (its kernelspec's, or None) and ``language``."""
    spec = notebook.get("metadata", {}).get("kernelspec", {}) or {}
    return {
        "name": spec.get("name") or None,
        "display_name": spec.get("display_name") or None,
        "language": notebook_language(notebook),
    }


def native_kernel(path: str | Path, notebook: Any = None) -> str:
    """The kernel that runs the notebook at ``path`` on this machine as it is.

    A Python notebook runs on this interpreter's ``python3`` kernel, whichever kernel it names. A notebook
    in another language runs on the kernelspec it names; when that is not installed, on the only installed
    kernel of its language.

    Raises
    ------
    ReefError
        One line naming the notebook, the kernel it needs (name, display name, language) and how to get it,
        when no installed kernel runs its language (or several do and it names none of them).
    """
    notebook = read_notebook(path) if notebook is None else notebook
    wanted = notebook_kernel(notebook)
    if is_python(wanted["language"]):
        return PYTHON_KERNEL
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().get_all_specs()
    if wanted["name"] in specs:
        return wanted["name"]
    same = sorted(
        name
        for name, found in specs.items()
        if str(found.get("spec", {}).get("language", "")).lower() == wanted["language"]
    )
    if len(same) == 1:
        log.info(
            "%s: kernel %r is not installed here; the %s kernel %r runs it",
            path,
            wanted["name"],
            wanted["language"],
            same[0],
        )
        return same[0]
    raise ReefError(f"{path}: /metadata/kernelspec: {missing_kernel(wanted, same)}")


def named_kernel(path: str | Path, notebook: Any) -> str:
    """The kernel ``reef run`` gives a notebook that no environment claims: a Python notebook's own kernel
    (``python3`` when it names none); another language's as ``native_kernel`` chooses it."""
    wanted = notebook_kernel(notebook)
    if is_python(wanted["language"]):
        return wanted["name"] or PYTHON_KERNEL
    return native_kernel(path, notebook)


def missing_kernel(wanted: dict, same_language: list[str] = ()) -> str:
    """One line: the kernel a notebook needs is not installed here, and how to get it."""
    name = f"'{wanted['name']}'" if wanted.get("name") else "named by none"
    shown = f"{wanted['display_name']}, " if wanted.get("display_name") else ""
    language = wanted["language"]
    if same_language:
        return (
            f"the notebook's kernel {name} ({shown}language {language}) is not installed here, and several "
            f"{language} kernels are "
            f"({', '.join(same_language)}): name one in the notebook's metadata (kernelspec)"
        )
    what, command = KNOWN_KERNELS.get(language, (None, None))
    how = (
        f"install {what}: {command}"
        if command
        else f"install a Jupyter kernel for {language} (`jupyter kernelspec list` shows the kernels installed here)"
    )
    return (
        f"the notebook's kernel {name} ({shown}language {language}) is not installed here, and a notebook runs "
        f"only on a kernel of its language; {how}"
    )


def solution_kernel(solution: Any) -> str:
    """The one kernel that runs every workflow of ``solution`` on this machine as it is (see ``native_kernel``).

    Raises
    ------
    ReefError
        When a notebook's kernel is missing, or the workflows' notebooks need different kernels (naming two).
    """
    chosen: dict[str, str] = {}
    for name, workflow in sorted(solution.workflows.items()):
        path = Path(workflow.notebook)
        try:
            notebook = read_notebook(path)
        except NotebookError:  # the run says what is wrong with it
            continue
        chosen.setdefault(native_kernel(path, notebook), name)
    if len(chosen) > 1:
        (first, one), (second, other) = sorted(chosen.items(), key=lambda item: item[1])[:2]
        where = solution.manifest_path or solution.path
        raise ReefError(
            f"{where}: /workflows: workflow '{one}' runs on kernel '{first}' and '{other}' on '{second}', and "
            "--env native runs one kernel: "
            "reproduce them from separate solutions"
        )
    return next(iter(chosen), PYTHON_KERNEL)


def refuse_other_languages(solution: Any, environment: str) -> None:
    """A reef environment's kernel runs Python: a workflow notebook in another language is a ReefError naming it
    (``environment``: what ``--env`` named, ``new`` or an environment)."""
    for _name, workflow in sorted(solution.workflows.items()):
        try:
            notebook = read_notebook(workflow.notebook)
        except NotebookError:
            continue
        wanted = notebook_kernel(notebook)
        if not is_python(wanted["language"]):
            raise ReefError(
                f"{workflow.notebook}: /metadata/kernelspec: a {wanted['language']} notebook cannot run in a "
                "reef environment "
                f"(--env {environment}: its kernel runs Python); reproduce it with --env native, on its own kernel"
            )
