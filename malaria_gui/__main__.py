import os
import signal
import sys


def _interrupted_at_start(signum, frame):  # pragma: no cover - exercised by a subprocess test
    # Ctrl+C while modules load: nothing is written yet, so leave at once, in one line. An
    # exception here could surface inside the import machinery as a traceback instead.
    os.write(2, b"\ninterrupted\n")
    os._exit(130)


if __name__ == "__main__":  # not when multiprocessing imports it in the scoring process
    signal.signal(signal.SIGINT, _interrupted_at_start)
    from malaria_gui.cli import main

    sys.exit(main())
