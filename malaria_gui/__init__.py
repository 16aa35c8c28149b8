"""malaria-gui: classify single red blood cell images as Parasitized or Uninfected."""

__version__ = "0.1.0"
