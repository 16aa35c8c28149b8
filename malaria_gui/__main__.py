import sys

from malaria_gui.cli import main

sys.exit(main())
