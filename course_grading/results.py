"""Réglages d'une correction et résultats, remise par remise."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.validation import check_choice, check_number

STATUS_OK = "ok"
STATUS_REVIEW = "à revoir"
ISOLATION_CHOICES = ("auto", "bwrap", "partielle")


@dataclass
class GradingSettings:
    """Réglages d'une correction.

    Paramètres
    ----------
    workers : int
        Nombre de processus de correction en parallèle (défaut : nombre de cœurs).
    timeout : float
        Limite de temps par remise, en secondes (toute la remise, tous ses notebooks).
    memory_gib : float
        Limite de mémoire du noyau, en Gio (``RLIMIT_DATA``) ; 0 : pas de limite.
    cell_timeout : int, optionnel
        Délai par cellule (secondes) ; par défaut celui de ``nbgrader_config.py``.
    max_output_mib : float
        Sortie maximale d'une cellule, en Mio (le notebook entier : quatre fois plus).
    threads : int, optionnel
        Fils de calcul (OpenMP, BLAS) par noyau ; par défaut cœurs / processus.
    feedback : bool
        Produire le retour HTML de chaque étudiant.
    keep_workdir : bool
        Garder le dossier de travail temporaire (pour déboguer).
    isolation : str
        ``"auto"`` (bubblewrap s'il fonctionne ici, sinon la garde seule, dit dans le CSV et le journal),
        ``"bwrap"`` (exiger bubblewrap : erreur s'il manque) ou ``"partielle"`` (la garde seule).
    max_notebook_mib, max_cells, max_cell_mib : float, int, float
        Plafonds vérifiés avant la correction : taille d'un notebook remis, nombre de cellules, taille du
        texte d'une cellule. Au-delà, la remise est signalée au lieu d'être exécutée.
    similarity_threshold : float ou None
        Seuil du rapport de similarité (fraction du code d'une solution en commun) au-delà duquel une remise
        est signalée pour révision (jamais un zéro) ; None : pas de rapport.
    """

    workers: int = 0
    timeout: float = 600.0
    memory_gib: float = 4.0
    cell_timeout: int | None = None
    max_output_mib: float = 5.0
    threads: int | None = None
    feedback: bool = True
    keep_workdir: bool = False
    isolation: str = "auto"
    max_notebook_mib: float = 20.0
    max_cells: int = 2000
    max_cell_mib: float = 1.0
    similarity_threshold: float | None = 0.5

    def __post_init__(self):
        cores = os.cpu_count() or 1
        self.workers = int(check_number(self.workers, "workers", nonnegative=True, integer=True)) or cores
        self.timeout = float(check_number(self.timeout, "timeout", positive=True))
        self.memory_gib = float(check_number(self.memory_gib, "memory_gib", nonnegative=True))
        if self.cell_timeout is not None:
            self.cell_timeout = int(check_number(self.cell_timeout, "cell_timeout", low=1, integer=True))
        self.max_output_mib = float(check_number(self.max_output_mib, "max_output_mib", positive=True))
        if self.threads is None:
            self.threads = max(1, cores // self.workers)
        self.threads = int(check_number(self.threads, "threads", low=1, integer=True))
        self.isolation = check_choice(self.isolation, "isolation", ISOLATION_CHOICES)
        self.max_notebook_mib = float(check_number(self.max_notebook_mib, "max_notebook_mib", positive=True))
        self.max_cells = int(check_number(self.max_cells, "max_cells", low=1, integer=True))
        self.max_cell_mib = float(check_number(self.max_cell_mib, "max_cell_mib", positive=True))
        if self.similarity_threshold is not None:
            self.similarity_threshold = float(check_number(self.similarity_threshold, "similarity_threshold",
                                                           low=0.0, high=1.0))

    def limits(self) -> dict:
        """Les plafonds du contrôle préalable (arguments de :func:`course_grading.faults.precheck`)."""
        return {"max_notebook_mib": self.max_notebook_mib, "max_cells": self.max_cells,
                "max_cell_mib": self.max_cell_mib}


@dataclass
class SubmissionResult:
    """Le résultat de la correction d'une remise."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = STATUS_OK
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    isolation: str = ""

    @property
    def flagged(self) -> bool:
        return self.status == STATUS_REVIEW


@dataclass
class GradingReport:
    """Ce que retourne :func:`grade` : un résultat par étudiant, le CSV, la durée."""

    assignment: str
    results: list[SubmissionResult]
    csv_path: Path
    seconds: float
    restored: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    isolation: str = ""
    refused: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def by_student(self) -> dict[str, SubmissionResult]:
        return {r.student: r for r in self.results}

    def summary(self) -> str:
        flagged = [r for r in self.results if r.flagged]
        lines = [f"{self.assignment} : {len(self.results)} remise(s) corrigée(s) en {self.seconds:.1f} s ; "
                 f"{len(flagged)} à revoir ; notes dans {self.csv_path}."]
        if self.isolation:
            lines.append(f"  isolation : {self.isolation}")
        lines += [f"  ATTENTION : {w}" for w in self.warnings]
        lines += [f"  - {r.student} : {' ; '.join(r.reasons)}" for r in flagged]
        lines += [f"  - remise non corrigée, dossier « {s} » : {why}" for s, why in self.refused.items()]
        if self.restored:
            lines.append(f"  ATTENTION : {len(self.restored)} fichier(s) remis modifié(s) pendant la correction "
                         "ont été restaurés : " + ", ".join(self.restored))
        if self.added:
            lines.append(f"  ATTENTION : {len(self.added)} fichier(s) sont apparus dans submitted/ pendant la "
                         "correction (laissés en place) : " + ", ".join(self.added[:20]))
        return "\n".join(lines)
