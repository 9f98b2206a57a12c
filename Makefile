# Set-up and the two commands of the README. Everything installs into .venv with the tested pins.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup leaderboard stability arch-health reproduce reproduce-seeds reproduce-budget dp tasks test benchmark browser clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,ray]'
	touch $(STAMP)

setup: $(STAMP)

# Chromium renders the HTML report in the tests (Debian package; needs root, skipped otherwise).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: the headless-browser test will be skipped" >&2; }

## Command 1: set up, run the default study on the embedded data, write the leaderboard.
leaderboard: setup
	$(BIN)/ganbench run --all
	$(BIN)/ganbench report --out results/leaderboard
	@echo "leaderboard: results/leaderboard/report.md (also report.html, report.tex, report.json, csv/, figures/)" >&2

## Stability (studies/stability.toml: about 25 minutes on a 2-core CPU): every loss on the ring at 10 seeds,
## R1 and non-saturating DCGAN on MNIST-5k at 5, at the default study's protocols; failure rates, spread
## over seeds and oscillation of the val curve in results/stability/.
STAB_RUNS := results/stability-runs
stability: setup
	$(BIN)/ganbench run --study stability --results-dir $(STAB_RUNS)
	$(BIN)/ganbench report --results-dir $(STAB_RUNS) --out results/stability
	@echo "stability: results/stability/report.md (also report.html, csv/, figures/)" >&2

## Architecture health (a benchmark, not a test: about 30 minutes on a 2-core CPU): every built-in
## architecture at its own defaults, non-saturating loss, one kimg budget on MNIST-5k (points archs on
## the ring); LeNet-FID, classes covered, sample grids in results/arch-health/.
## Its runs live in their own results directory (git-ignored), so the report holds this study alone.
AH_RUNS := results/arch-health-runs
arch-health: setup
	$(BIN)/ganbench run --study arch-health --results-dir $(AH_RUNS)
	$(BIN)/ganbench report --results-dir $(AH_RUNS) --out results/arch-health
	@echo "arch-health: results/arch-health/report.md (also report.html, csv/, figures/)" >&2

## Published findings re-run (studies/reproduce.toml: about 1 h on a 2-core CPU with nothing else running):
## the claim | paper | ganbench | holds? table and its mode-collapse and leaderboard tables, in results/reproduce/.
REPRO_RUNS := results/reproduce-runs
reproduce: setup
	$(BIN)/ganbench run --study reproduce --results-dir $(REPRO_RUNS)
	$(BIN)/ganbench report --results-dir $(REPRO_RUNS) --out results/reproduce
	@echo "reproduce: results/reproduce/report.md (also report.html, csv/, figures/)" >&2

## The reproduce study's ring and grid claims at 10 seeds, PacGAN's trial count (studies/reproduce-seeds.toml:
## 80 runs, about 20 minutes on a 2-core CPU), and its grid claims at 4x the budget, 16000 steps
## (studies/reproduce-budget.toml: 12 runs, about 15 minutes); claim tables in results/reproduce/seeds/ and budget/.
reproduce-seeds: setup
	$(BIN)/ganbench run --study reproduce-seeds --results-dir results/reproduce-seeds-runs
	$(BIN)/ganbench report --results-dir results/reproduce-seeds-runs --out results/reproduce/seeds
	@echo "reproduce-seeds: results/reproduce/seeds/report.md" >&2

reproduce-budget: setup
	$(BIN)/ganbench run --study reproduce-budget --results-dir results/reproduce-budget-runs
	$(BIN)/ganbench report --results-dir results/reproduce-budget-runs --out results/reproduce/budget
	@echo "reproduce-budget: results/reproduce/budget/report.md" >&2

## FID vs ε (studies/dp.toml: DCGAN on MNIST-5k without and with a DP-SGD discriminator at σ = 0.5, 1, 2;
## about 8 minutes on an idle 2-core CPU): the leaderboard with dp_epsilon / dp_delta columns in results/dp/.
DP_RUNS := results/dp-runs
dp: setup
	$(BIN)/ganbench run --study dp --results-dir $(DP_RUNS)
	$(BIN)/ganbench run --study dp --technique dp_sgd --hparam dp_noise_multiplier=0.5 --results-dir $(DP_RUNS) & \
	$(BIN)/ganbench run --study dp --technique dp_sgd --hparam dp_noise_multiplier=2 --results-dir $(DP_RUNS); wait
	$(BIN)/ganbench report --results-dir $(DP_RUNS) --out results/dp
	@echo "dp: results/dp/report.md (also report.html, csv/, figures/)" >&2

## The tasks beyond unconditional images (studies/super-resolution.toml and translation.toml: about
## 25 + 60 minutes on an idle 2-core CPU): SRGAN beside bicubic upsampling, pix2pix on edges and
## inpainting, CycleGAN between MNIST-5k and scikit-learn's digits; one table per task in results/tasks/.
TASK_RUNS := results/tasks-runs
tasks: setup
	$(BIN)/ganbench run --study super-resolution --results-dir $(TASK_RUNS)
	$(BIN)/ganbench run --study translation --results-dir $(TASK_RUNS)
	$(BIN)/ganbench report --results-dir $(TASK_RUNS) --out results/tasks
	$(BIN)/ganbench run --study text --results-dir results/text-runs
	$(BIN)/ganbench report --results-dir results/text-runs --out results/text
	@echo "tasks: results/tasks/report.md (also report.html, csv/, figures/)" >&2

## Command 2: set up and run the test suite, one worker per core (pytest-xdist; tests use one thread each;
## loadgroup keeps the tests of one local Ray cluster on one worker).
test: setup browser
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

## Training-step throughput of the built-in architectures and the table of speed ratios (harness / hand-written,
## ganbench / reference DCGAN-64, bf16 / fp32, vectorised / sequential), printed last (pytest-benchmark; not
## part of `make test`). Every number, with img/s and the machine, is also in .benchmarks/latest.json.
## BENCHMARK_ARGS passes more pytest options, e.g. BENCHMARK_ARGS='-k reference'.
BENCHMARK_ARGS ?=
benchmark: setup
	@mkdir -p .benchmarks
	$(BIN)/python -m pytest benchmarks -q --benchmark-enable --benchmark-only -p no:cacheprovider \
		--benchmark-columns=min,median,max,rounds --benchmark-json=.benchmarks/latest.json $(BENCHMARK_ARGS)

clean:
	rm -rf $(VENV) results/runs
