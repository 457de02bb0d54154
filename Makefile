# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
VENV := .venv
BIN := $(VENV)/bin
DEMO_PROBLEM ?= A baker makes 24 muffins and sells 15 of them. How many muffins are left?
DEMO_ANSWER ?= 9

.PHONY: demo test lint typecheck bootstrap bench docs clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@echo "== self-consistency: sample, extract answers, majority vote ==" >&2
	$(BIN)/ponder solve "$(DEMO_PROBLEM)" --strategy self-consistency --max-tokens 3000
	@echo "== best-of-n with a verifier that knows the answer is $(DEMO_ANSWER) ==" >&2
	$(BIN)/ponder solve "$(DEMO_PROBLEM)" --strategy best-of-n --expected $(DEMO_ANSWER) --max-tokens 3000

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: bootstrap
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# The docs site (mkdocs.yml, docs/) into site/; a warning fails the build.
docs: bootstrap
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: bootstrap
	$(BIN)/python benchmarks/foundation.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
