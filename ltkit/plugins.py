"""Plugins: a Python file or module that registers your own dataset, network or experiment on import."""

import importlib
import importlib.util
import sys
from pathlib import Path

from ltkit.errors import LtkitError


def load_plugin(name):
    """Import a plugin, a .py file by its path or a module by its name: it registers what it brings."""
    path = Path(name)
    if path.suffix == ".py" and not path.is_file():
        raise LtkitError(f"--plugin {name}: there is no such file; give the path of a .py file")
    try:
        if path.suffix == ".py":
            spec = importlib.util.spec_from_file_location(path.stem, path)
            sys.modules[path.stem] = module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except LtkitError:
        raise
    except Exception as error:  # the plugin's own mistake, named in one line
        raise LtkitError(f"--plugin {name} failed on import: {type(error).__name__}: {error}") from None
