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

.PHONY: lab test assignments grade similarity bench gpu-check lint install

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
	$(BIN)/python -m course_grading.assignments build $(TP)

## Corrige toutes les remises collectées d'un TP (TP=TPn), en parallèle et sous garde, avec nbgrader.
## Options : GRADE_ARGS="--workers 4 --timeout 600 --memory 4" (voir python -m course_grading -h).
grade: $(STAMP)
	@test -n "$(TP)" || { echo "Précisez le TP : make grade TP=TP0" >&2; exit 2; }
	$(BIN)/python -m course_grading $(TP) $(GRADE_ARGS)

## Rapport de similarité d'un TP (TP=TPn) : le code des solutions comparé à course_lib et entre étudiants ;
## rapport HTML dans assignments/similarite_TPn.html. Options : SIMILARITY_ARGS="--threshold 0.5 --output f.html".
similarity: $(STAMP)
	@test -n "$(TP)" || { echo "Précisez le TP : make similarity TP=TP0" >&2; exit 2; }
	$(BIN)/python -m course_grading.similarity $(TP) $(SIMILARITY_ARGS)

## Bancs d'essai : chaque ligne compare notre version à une référence mesurée dans la même exécution.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

## Sur une machine GPU prêtée : aucun .venv, le python3 trouvé sur place.
gpu-check:
	python3 benchmarks/gpu_check.py

lint: $(STAMP)
	$(BIN)/ruff check course_lib course_grading tests benchmarks
