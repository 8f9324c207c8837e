"""``python -m course_grading`` : voir :mod:`course_grading.cli`."""

import sys

from .cli import main

sys.exit(main())
