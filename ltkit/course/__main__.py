"""`python -m ltkit.course`: the whole course, headless (ltkit.course.runner)."""

import sys

try:
    from ltkit.course.runner import main
except ImportError as error:  # the runner's own dependencies are an extra: say which, and how to get them
    sys.exit(f"ltkit: error: the course runner needs {error.name}; pip install 'ltkit[course]'")

sys.exit(main())
