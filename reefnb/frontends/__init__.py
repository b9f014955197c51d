"""Front ends over one command layer (``commands``): the ``reef`` CLI (``cli``, its parser ``arguments``, its text
``terminal``), the ``%reef`` magics and widgets, the Jupyter server extension (``server``), ``reef serve``;
``rendering`` says how a run record, a number, a duration and a size read in all of them."""
