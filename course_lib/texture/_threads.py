"""Un seul fil de calcul pour les boucles faites de petites opérations (voir :mod:`course_lib._threads`)."""

from .._threads import single_thread_on_cpu

__all__ = ["single_thread_on_cpu"]
