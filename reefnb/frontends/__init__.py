"""Front ends: the ``reef`` CLI, the ``%reef`` magics and widgets, the Jupyter server extension, ``reef serve``."""
