# `make run`: set up and run the main job. `make test`: set up and run the tests.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: run test setup clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(PY) examples/main_job.py --out out

test: $(STAMP)
	$(PY) -m pytest
	$(PY) benchmarks/fuzz.py --n 3000 --seconds 90 --findings out/fuzz-findings

clean:
	rm -rf out .pytest_cache
