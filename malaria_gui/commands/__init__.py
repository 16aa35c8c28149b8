"""One module per sub-command of malaria-gui (the dispatcher is malaria_gui/cli.py)."""
