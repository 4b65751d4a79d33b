"""`python -m ltkit.course`: the whole course, headless (ltkit.course.runner)."""

import sys

from ltkit.course.runner import main

sys.exit(main())
