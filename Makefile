# Génération d'images par apprentissage profond — commandes du cours.
# `make lab` et `make test` créent et remplissent .venv à la première utilisation.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-lib-installed
PYTEST_ARGS ?= -n 2 --dist loadfile
TP ?=

# Le dépôt d'abord sur le chemin d'import (utile avec un .venv partagé entre copies de travail).
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH),)

.PHONY: lab test assignments bench gpu-check lint install

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

## Ouvre le cours dans JupyterLab (--allow-root seulement pour root).
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		$(if $(filter 0,$(shell id -u)),--allow-root,) notebooks/00_introduction.ipynb

## Toute la suite de tests (profil « ci »), dans un HOME temporaire.
test: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	HOME="$$tmp" COURSE_PROFILE=ci $(BIN)/python -m pytest $(PYTEST_ARGS)

## Régénère assignments/release/ et solutions/ à partir de assignments/source/ (TP=TPn pour un seul).
assignments: $(STAMP)
	$(BIN)/python -m course_lib.assignments build $(TP)

## Bancs d'essai : chaque ligne compare notre version à une référence mesurée dans la même exécution.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

## Sur une machine GPU prêtée : aucun .venv, le python3 trouvé sur place.
gpu-check:
	python3 benchmarks/gpu_check.py

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests benchmarks
