"""What the test modules share: helpers and fixtures, one module per concern.

No test module imports another (``tests/test_architecture.py`` checks it); what two of them need lives here and
is imported as ``from helpers.solutions import write_solution`` (``tests`` is on pytest's ``pythonpath``).

- ``solutions``: REPO, HELLO, FLAGSHIP, ``write_notebook``, ``write_solution``
- ``cli``: ``call`` (``reef ARGS`` in this process), ``run`` (``python -m reefnb ARGS`` as a process)
- ``servers``: ``serving`` (a socketserver in a thread), ``stop_process``, ``free_port``, ``wait_until``
- ``processes``: ``marker`` (a `sleep` argument no other process has), ``alive`` (the processes that carry it)
- ``home``: the user's real home and kernels folder, ``kernelspecs`` (what the suite must not change)
- ``store``: ``write_lock`` (a second SQLite connection holding the store's write lock)
- ``records``: run records made by hand (``make_record``, ``sweep_record``, ``flagship_records``,
  ``monthly_records``)
- ``registry``: bare git registries and users (fixtures ``bare``, ``user``, ``git_identity``, for every test
  without an import: conftest registers the module as a plugin), ``make_package``, ``git_clone``, ``git_push_all``
- ``wheels``: tiny wheels made by hand
- ``packages``: ``write_package`` (a .reef.zip by hand, its SHA256SUMS matching)
- ``actions``: a toy solution with actions, ``reef serve`` as a process, ``request`` to it
- ``artifacts``: ``ArtifactServer`` (HTTP with Range, cuts), ``sha``
- ``browser``: Chromium, the only place that launches it: fixtures ``browser`` (one per module) and ``chromium``
  (``launch(*more_arguments)``), registered for every test; ``running_lab``, ``in_theme``, ``TOKEN``, ``ARTIFACTS``
- ``lab_server``: pytest-jupyter's server with reefnb's extension (``from helpers.lab_server import *``)
- ``mlperf``: the MLPerf submission checker's compliance check in its own process
"""
