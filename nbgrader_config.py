"""nbgrader lancé depuis la racine du dépôt (par exemple dans `make lab`) : le cours est dans assignments/."""

import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "assignments", "nbgrader_config.py"))  # noqa: F821
