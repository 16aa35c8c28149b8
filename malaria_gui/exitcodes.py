"""Exit statuses shared by every sub-command (``classify``, ``adapt``, ``smear``...).

Kept apart from ``cli.py`` so that a command's own module can use them without importing
the dispatcher that imports it.
"""

EXIT_OK = 0  # everything asked for was done
EXIT_SOME_FAILED = 1  # done, but some input files could not be read (each one is reported)
EXIT_USAGE = 2  # nothing done: bad arguments, missing model, no images, an output that cannot be written
EXIT_INTERRUPTED = 130  # Ctrl+C: nothing half-written
