# The two commands of the README: `make run` (the main job) and `make test`. Each makes .venv when missing.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WIDGETS7 := $(VENV)/ipywidgets7
PROFILE ?= class

.PHONY: run test lint unit lessons checks widgets7 browser bench lab student site colab-check clean

# Execute every lesson headless ($(PROFILE) profile) into build/notebooks and build/html.
run: $(STAMP)
	$(PYTHON) -m ltkit.course --profile $(PROFILE) --output build

# Lint; then, in two lanes at once, every lesson in the ci profile, each followed by a run in JupyterLab in a
# real browser (from the run cache it just filled), the unit tests and the dashboards under ipywidgets 7 (as on
# Colab).
test: lint checks

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: $(STAMP)
	TQDM_DISABLE=1 $(PYTHON) -m pytest -q tests

# The lessons run as two groups at once, each kernel on one thread (a CPU has two cores at least): those
# that share cached runs (IMP sweeps, the independent networks of 05 and 07) stay in one group, in order;
# lesson 06 (the 1-D CNN, the longest in ci) is most of the second group, with 08 and 11.
NBVAL := LTKIT_PROFILE=ci TQDM_DISABLE=1 $(PYTHON) -m pytest -q --nbval-lax --nbval-current-env \
	--nbval-cell-timeout=1800 -p no:cacheprovider
LESSONS_A := $(sort $(wildcard notebooks/0[0-5]*.ipynb notebooks/07*.ipynb notebooks/09*.ipynb notebooks/1[02]*.ipynb))
LESSONS_B := $(sort $(filter-out $(LESSONS_A),$(wildcard notebooks/*.ipynb)))
# The browser test of each lesson (but 00, which has no dashboard), by its pytest name.
BROWSER_TEST := tests/browser/test_lessons_in_browser.py::test_a_lesson_runs_in_the_browser_and_its_dashboards_answer
in_browser = $(PYTHON) -m pytest -q -o addopts="" -p no:cacheprovider \
	$(foreach lesson,$(filter-out 00_%,$(basename $(notdir $(1)))),"$(BROWSER_TEST)[$(lesson)]")

lessons: $(STAMP)
	mkdir -p build
	$(NBVAL) $(LESSONS_B) >build/lessons-b.log 2>&1 & other=$$!; \
	$(NBVAL) $(LESSONS_A); first=$$?; \
	wait $$other; second=$$?; \
	echo "== lessons $(notdir $(LESSONS_B)):"; cat build/lessons-b.log; \
	exit $$(( first || second ))

# `make lessons`, each group then run in the browser; then the unit tests after group B and the dashboards
# under ipywidgets 7 after group A, so that both lanes end at about the same time; each lane keeps to one thread.
checks: $(STAMP) $(WIDGETS7)/.installed
	mkdir -p build
	{ $(NBVAL) $(LESSONS_B) && $(call in_browser,$(LESSONS_B)); b=$$?; \
		LTKIT_THREADS=1 $(MAKE) --no-print-directory unit; exit $$(( b || $$? )); } >build/lane-b.log 2>&1 & other=$$!; \
	$(NBVAL) $(LESSONS_A) && $(call in_browser,$(LESSONS_A)); a=$$?; \
	$(MAKE) --no-print-directory widgets7; first=$$(( a || $$? )); \
	wait $$other; second=$$?; \
	echo "== lessons $(notdir $(LESSONS_B)) and their browser runs, then the unit tests:"; cat build/lane-b.log; \
	exit $$(( first || second ))

widgets7: $(STAMP) $(WIDGETS7)/.installed
	PYTHONPATH=$(WIDGETS7) $(PYTHON) -c "import ipywidgets; print('dashboards under ipywidgets', ipywidgets.__version__)"
	PYTHONPATH=$(WIDGETS7) TQDM_DISABLE=1 $(PYTHON) -m pytest -q -p no:warnings tests/test_dashboards.py

$(WIDGETS7)/.installed: $(STAMP)
	$(PYTHON) -m pip install --quiet --no-deps --target $(WIDGETS7) ipywidgets==7.7.1 ipython_genutils
	touch $@

# Each lesson run in JupyterLab in Chromium: dashboards render and answer; screenshots in build/browser/.
browser: $(STAMP)
	$(PYTHON) -m pytest -q -o addopts="" tests/browser

# The unit tests and every lesson (ci) under Colab's Python 3.13 and package versions, in build/colab-env.
colab-check:
	bash benchmarks/colab_check.sh all

bench: $(STAMP)
	$(PYTHON) benchmarks/epoch_speed.py
	$(PYTHON) benchmarks/threads.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

# The lessons for class, their answers and solutions removed, into build/student.
student: $(STAMP)
	$(PYTHON) -m ltkit.course.student --output build/student

# The lessons executed by `make run` as a static site, build/site/index.html (executes nothing).
site: $(STAMP)
	$(PYTHON) -m ltkit.course.site --notebooks build/notebooks --output build/site

$(STAMP): pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf build data/runs
