"""The course: what students see (figures, dashboards, the playground), the claims each lesson asserts,
and the headless runner that executes every lesson (python -m ltkit.course)."""
