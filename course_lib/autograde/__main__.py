"""``python -m course_lib.autograde`` : voir :mod:`course_lib.autograde.cli`."""

import sys

from .cli import main

sys.exit(main())
