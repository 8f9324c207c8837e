"""Synthèse de texture : méthodes non paramétriques, autorégressives et par CNN (``gatys``)."""
