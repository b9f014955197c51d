"""The solution: its manifest (``solution.json``), the notebooks it names, their parameters and version ranges."""
