# The two set-up commands (README): `make run` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test package bench clean-venv

$(STAMP): pyproject.toml setup.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/malaria-gui $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The one-folder executable dist/malaria-gui/ (README, "Building the stand-alone program"): bundles whatever models/ holds.
PACKAGE_STAMP := $(VENV)/.installed-package
$(PACKAGE_STAMP): $(STAMP) pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet -e ".[package]"
	touch $(PACKAGE_STAMP)

package: $(PACKAGE_STAMP)
	$(BIN)/python -m PyInstaller --noconfirm --log-level WARN build.spec
	@du -sh dist/malaria-gui

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean-venv:
	rm -rf $(VENV)
