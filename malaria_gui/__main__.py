import sys

from malaria_gui.cli import main

if __name__ == "__main__":  # not when multiprocessing imports it in the scoring process
    sys.exit(main())
