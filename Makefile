# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
VENV := .venv
BIN := $(VENV)/bin
# The demo's problem: by default one the measured data shows the default strategy fixing
# (scripts/demo_problem.py reads benchmarks/results/default-strategy-smollm2.json).
DEMO_PROBLEM ?=

.PHONY: demo test lint typecheck bootstrap bench docs clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@problem="$(DEMO_PROBLEM)"; \
	if [ -z "$$problem" ]; then \
		problem="$$($(BIN)/python scripts/demo_problem.py | head -n 1)"; \
		echo "== a held-in problem greedy decoding got wrong and the default strategy right" \
			"(benchmarks/default_strategy.py); no answer key is given to either ==" >&2; \
	fi; \
	echo "== greedy decoding: one answer at temperature 0 ==" >&2; \
	$(BIN)/ponder solve "$$problem" --strategy greedy --max-tokens 8000 && \
	echo "== the default strategy: greedy first, samples, program-aided checks ==" >&2 && \
	$(BIN)/ponder solve "$$problem" --max-tokens 8000

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
