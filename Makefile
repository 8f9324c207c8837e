# Génération d'images par apprentissage profond — commandes du cours.
# `make lab` et `make test` créent et remplissent .venv à la première utilisation.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-lib-installed
PYTEST_ARGS ?= -n 2 --dist loadfile
TP ?=
DATA ?=

# Le dépôt d'abord sur le chemin d'import (utile avec un .venv partagé entre copies de travail).
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH),)

.PHONY: lab test assignments grade similarity bench gpu-check lint install system-deps data site student-kit

install: $(STAMP)

## Paquets du système : bubblewrap isole chaque remise pendant la correction (installé en root par apt-get ;
## sinon, la correction le dit et tourne en « isolation partielle »).
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1; } || \
	    echo "bubblewrap n'a pas pu être installé : la correction tournera en isolation partielle." >&2; \
	  else \
	    echo "bubblewrap (bwrap) est absent : installez-le (sudo apt-get install bubblewrap) pour isoler les remises." >&2; \
	  fi; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

## Ouvre le cours dans JupyterLab (--allow-root seulement pour root).
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		$(if $(filter 0,$(shell id -u)),--allow-root,) notebooks/00_introduction.ipynb

## Toute la suite de tests (profil « ci »), dans un HOME temporaire.
test: $(STAMP) system-deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	HOME="$$tmp" COURSE_PROFILE=ci $(BIN)/python -m pytest $(PYTEST_ARGS)

## Régénère assignments/release/ et solutions/ à partir de assignments/source/ (TP=TPn pour un seul).
assignments: $(STAMP)
	$(BIN)/python -m course_grading.assignments build $(TP)

## Corrige toutes les remises collectées d'un TP (TP=TPn), en parallèle et sous garde, avec nbgrader.
## Options : GRADE_ARGS="--workers 4 --timeout 600 --memory 4" (voir python -m course_grading -h).
grade: $(STAMP) system-deps
	@test -n "$(TP)" || { echo "Précisez le TP : make grade TP=TP0" >&2; exit 2; }
	$(BIN)/python -m course_grading $(TP) $(GRADE_ARGS)

## Pré-télécharge poids et jeux de données dans le cache, avec reprise et vérification d'empreinte.
## DATA="vgg19 places365-val" pour choisir, DATA=--all pour tout (Places365 entraînement : 24 Go),
## DATA="--all --to /srv/cours" pour préparer un cache partagé (COURSE_DATA=/srv/cours ensuite).
data: $(STAMP)
	$(BIN)/python -m course_lib.data fetch $(DATA)

## Exécute les notebooks de cours et construit le site HTML (build/site/html/index.html).
## Profil : COURSE_PROFILE (défaut : celui de la machine) ; SITE_ARGS="--jobs 2" pour paralléliser.
site: $(STAMP)
	$(BIN)/python -m course_grading.site $(SITE_ARGS)

## L'archive des étudiants (build/cours-etudiants.zip) : ni corrigés, ni outils de correction, ni solutions.
student-kit: $(STAMP)
	$(BIN)/python -m course_grading.student_kit $(KIT_ARGS)

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
