"""Package layout only (metadata is in pyproject.toml): the code, plus the top-level models/
and resources/ folders installed as data under malaria_gui/_models and malaria_gui/_resources.

The folders stay at the repository's top level (the design names them); this mapping is what
lets a non-editable ``pip install .`` or a wheel carry them. malaria_gui/resources.py looks
there when the program is installed. pyproject.toml cannot combine package discovery with
such a mapping, hence this file.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {"malaria_gui._models": "models", "malaria_gui._resources": "resources"}

setup(
    packages=find_packages(include=["malaria_gui", "malaria_gui.*"]) + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={
        "malaria_gui._models": ["*.keras", "*.card.json", "*.png"],
        "malaria_gui._resources": ["*.svg", "*.ico", "*.desktop", "*.qss", "icons/*.png"],
    },
)
