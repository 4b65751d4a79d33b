#!/usr/bin/env bash
# The package, its unit tests and every lesson (ci profile) under Colab's Python and package versions
# (benchmarks/colab-constraints.txt), in a virtual environment of their own:
#
#     bash benchmarks/colab_check.sh [unit|lessons|all]      # make colab-check runs all
#
# The first run downloads torch for Python 3.13 (a few GB); later runs reuse build/colab-env.
# COLAB_PYTHON names the interpreter (default: pyenv's 3.13, else python3.13 on the PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
python=${COLAB_PYTHON:-$(ls -d "$(pyenv root 2>/dev/null || echo ~/.pyenv)"/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)}
python=${python:-$(command -v python3.13 || true)}
[ -x "$python" ] || { echo "colab-check: no Python 3.13 found; set COLAB_PYTHON=/path/to/python3.13"; exit 1; }
env=build/colab-env
constraints=benchmarks/colab-constraints.txt
if [ ! -f $env/.installed ] || [ $constraints -nt $env/.installed ] || [ pyproject.toml -nt $env/.installed ]; then
    "$python" -m venv $env
    $env/bin/pip install --quiet --upgrade pip
    $env/bin/pip install --quiet -c $constraints -e '.[course]' nbval pytest ipython_genutils
    touch $env/.installed
fi
$env/bin/python - <<'PY'
import sys, torch, ipywidgets, ipykernel, matplotlib, numpy
print("colab-check: Python", sys.version.split()[0], "| torch", torch.__version__, "| ipywidgets", ipywidgets.__version__,
      "| ipykernel", ipykernel.__version__, "| matplotlib", matplotlib.__version__, "| numpy", numpy.__version__)
PY
export TQDM_DISABLE=1
status=0
if [ "$what" != lessons ]; then  # the browser, the site and the student build need the dev tools: not Colab's
    $env/bin/python -m pytest -q -p no:cacheprovider tests --ignore=tests/browser \
        --ignore=tests/test_site.py --ignore=tests/test_student.py || status=1
fi
if [ "$what" != unit ]; then
    LTKIT_PROFILE=ci $env/bin/python -m pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=1800 \
        -p no:cacheprovider notebooks/*.ipynb || status=1
fi
exit $status
