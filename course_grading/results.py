"""Réglages d'une correction et résultats, remise par remise."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.validation import check_number

STATUS_OK = "ok"
STATUS_REVIEW = "à revoir"


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
    """

    workers: int = 0
    timeout: float = 600.0
    memory_gib: float = 4.0
    cell_timeout: int | None = None
    max_output_mib: float = 5.0
    threads: int | None = None
    feedback: bool = True
    keep_workdir: bool = False

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


@dataclass
class SubmissionResult:
    """Le résultat de la correction d'une remise."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = STATUS_OK
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

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

    def by_student(self) -> dict[str, SubmissionResult]:
        return {r.student: r for r in self.results}

    def summary(self) -> str:
        flagged = [r for r in self.results if r.flagged]
        lines = [f"{self.assignment} : {len(self.results)} remise(s) corrigée(s) en {self.seconds:.1f} s ; "
                 f"{len(flagged)} à revoir ; notes dans {self.csv_path}."]
        lines += [f"  - {r.student} : {' ; '.join(r.reasons)}" for r in flagged]
        if self.restored:
            lines.append(f"  ATTENTION : {len(self.restored)} fichier(s) remis modifié(s) pendant la correction "
                         "ont été restaurés : " + ", ".join(self.restored))
        if self.added:
            lines.append(f"  ATTENTION : {len(self.added)} fichier(s) sont apparus dans submitted/ pendant la "
                         "correction (laissés en place) : " + ", ".join(self.added[:20]))
        return "\n".join(lines)
