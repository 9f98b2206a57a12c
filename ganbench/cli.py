"""The ``ganbench`` command line. stdout carries data; progress and logs go to stderr.

Heavy libraries (torch, torchvision, torch-fidelity) are imported inside commands, never at import
time, so ``ganbench --help`` stays fast. Exit codes are listed in :mod:`ganbench.errors`.
"""

from __future__ import annotations

import json
import os
import sys

import click

from ganbench import __version__
from ganbench.errors import ExitCode, GanbenchError, UsageError, environment_problem
from ganbench.preflight import MAX_RUNS_WITHOUT_YES
from ganbench.spec import COMPILE_MODES, MAX_DDP, MAX_THREADS


def _host(ctx: click.Context, strict: bool = True):
    """Load plugins once per invocation, honouring --disable-plugin / --only-plugin. ``strict=False``:
    commands that only read stored results go on without a broken plugin, saying so on stderr."""
    obj = ctx.ensure_object(dict)
    if "host" not in obj:
        from ganbench import plugins
        obj["host"] = plugins.load(disable=obj.get("disable", ()), only=obj.get("only", ()), strict=strict)
    return obj["host"]


def _warn_broken(host) -> None:
    for name, (_, _, _, problem) in sorted(host.broken.items()):
        click.echo(f"ganbench: warning: left out: {problem} (--disable-plugin {name} to silence this)", err=True)


class PluginGroup(click.Group):
    """Built-in commands are listed in --help; a name it does not know is looked up among the commands
    plugins add through ``ganbench_register_commands``, so plugins are only loaded when needed."""

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None and not ctx.obj.get("plugin_commands_loaded"):
            ctx.obj["plugin_commands_loaded"] = True
            _host(ctx).pm.hook.ganbench_register_commands(cli=self)
            command = super().get_command(ctx, name)
        return command


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganbench")
@click.option("--disable-plugin", "disable", multiple=True, metavar="NAME",
              help="Do not load this plugin entry point (also $GANBENCH_DISABLE_PLUGINS=a,b).")
@click.option("--only-plugin", "only", multiple=True, metavar="NAME",
              help="Load only these plugin entry points (also $GANBENCH_LOAD_PLUGINS=a,b).")
@click.pass_context
def cli(ctx: click.Context, disable, only):
    """ganbench: benchmark GAN architectures, losses and techniques as plugins.

    \b
    Exit codes: 0 all runs completed; 1 some run failed or diverged;
    2 usage error (unknown name, bad option, broken plugin); 3 internal error;
    4 environment error (read-only or full disk, no permission).
    """
    ctx.ensure_object(dict).update(disable=disable, only=only)


# ---------------------------------------------------------------------------------------------------
def _by_reason(training: dict[str, dict], runs) -> dict[str, list[str]]:
    """Variants whose seeds will train solo, by reason (the dry run says each once)."""
    out: dict[str, list[str]] = {}
    for spec in runs:
        reason = training[spec.dirname].get("reason")
        if reason and spec.variant not in out.setdefault(reason, []):
            out[reason].append(spec.variant)
    return out


@cli.command()
@click.option("--all", "run_all", is_flag=True, help="Run the `default` study: every compatible plugin on the embedded data.")
@click.option("--study", metavar="NAME|FILE", help="Run a built-in study by name or a study TOML file.")
@click.option("--arch", "archs", multiple=True, metavar="NAME", help="Architecture (repeatable).")
@click.option("--loss", "losses", multiple=True, metavar="NAME", help="Loss (repeatable).")
@click.option("--technique", "techniques", multiple=True, metavar="NAME",
              help="Technique to combine with every run (repeatable; all given are combined).")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME", help="Dataset (repeatable).")
@click.option("--seeds", metavar="LIST", help="Seeds, e.g. 0,1,2 or 0-4.")
@click.option("--budget", metavar="KIND=VALUE", help="steps=N, kimg=X, seconds=S or flops=F.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME", help="Metric (repeatable; default: all that apply).")
@click.option("--task", metavar="NAME", default=None,
              help="Benchmark task of every run (`ganbench list tasks`); default: the study's, else generation.")
@click.option("--hparam", "hparams", multiple=True, metavar="NAME=VALUE", help="Override a hyperparameter (repeatable).")
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default=None, help="Default: auto.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=None, help="Autocast dtype; default fp32.")
@click.option("--channels-last", is_flag=True, default=None, help="Use channels_last memory format for images.")
@click.option("--compile", "compile_", is_flag=True, default=None, help="torch.compile G and D (opt-in).")
@click.option("--compile-mode", type=click.Choice(COMPILE_MODES), default=None,
              help="torch.compile mode (implies --compile); reduce-overhead replays CUDA graphs on a GPU.")
@click.option("--force-precision", is_flag=True,
              help="Run a --precision this machine is known to run slowly (bf16 on a CPU without native bf16).")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=None,
              help="torch.set_num_threads (recorded; results depend on it).")
@click.option("--eval-every", type=click.IntRange(0), default=None, help="Steps between held-out evaluations.")
@click.option("--data-root", type=click.Path(file_okay=False), help="Where torchvision datasets live ($GANBENCH_DATA).")
@click.option("--download", is_flag=True, help="Allow downloading torchvision datasets that are missing.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--ray-address", envvar="RAY_ADDRESS", metavar="HOST:PORT",
              help="Ray cluster for --executor ray ($RAY_ADDRESS; default: start a local one).")
@click.option("--cpus-per-run", type=click.FloatRange(0, min_open=True), default=None,
              help="Ray: CPUs each run (or seed group) reserves, and its torch threads; default: the study's "
                   "run.cpus_per_run, else 1.")
@click.option("--gpus-per-run", type=click.FloatRange(0), default=None,
              help="Ray: GPUs each run reserves; a fraction (0.25) packs small runs on one GPU; default: the "
                   "study's run.gpus_per_run, else 0.")
@click.option("--ddp", type=click.IntRange(1, MAX_DDP), default=None, metavar="N",
              help="Train each run on N processes with DistributedDataParallel (gloo on the CPU, NCCL on GPUs; "
                   "global batch = batch_size x N; recorded, results depend on it).")
@click.option("-j", "--jobs", type=click.IntRange(1), default=None,
              help="Local runs in parallel, one process each (threads per run default to cores / jobs); "
                   "default: the study's run.jobs, else 1.")
@click.option("--vectorize-seeds", default="auto", show_default=True, metavar="K|auto",
              help="Train up to K seeds of one configuration as one batched computation (auto: all, at most 8; "
                   "1: off; on CUDA, and for architectures that fold seeds into channels on the CPU, only an explicit K "
                   "groups). Configurations it does not cover run solo, the reason "
                   "on stderr.")
@click.option("--retry-failed", is_flag=True,
              help="Train runs stored as failed or diverged again (their earlier records are kept, renamed).")
@click.option("-n", "--dry-run", is_flag=True,
              help="List the runs (name, budget, and solo or vectorized xK: how its seeds will train) and the "
                   "skipped combinations, without running.")
@click.option("-y", "--yes", is_flag=True, help=f"Run a sweep of more than {MAX_RUNS_WITHOUT_YES} runs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.pass_context
def run(ctx, run_all, study, archs, losses, techniques, datasets, seeds, budget, metrics, task, hparams, results_dir,
        device, precision, channels_last, compile_, compile_mode, force_precision, threads, eval_every, data_root,
        download, executor, ray_address, cpus_per_run, gpus_per_run, ddp, jobs, vectorize_seeds, retry_failed, dry_run, yes, quiet, as_json):
    """Train and evaluate every requested combination; store each run under RESULTS_DIR/runs/.

    Every option, study key and hyperparameter is checked before the first run starts: a mistake
    exits 2 with one line and leaves RESULTS_DIR untouched."""
    from ganbench import preflight, sweep
    from ganbench import study as study_mod
    from ganbench.spec import Budget, parse_hparam, parse_seeds

    if run_all and study:
        raise UsageError("give either --all or --study, not both")
    selection = archs or losses or techniques or datasets
    if (run_all or study) and (archs or losses or datasets):
        raise UsageError("--arch/--loss/--dataset select an ad-hoc study; they cannot be combined with --all or --study")
    if not (run_all or study or selection):
        raise UsageError("nothing to run: give --all, --study NAME, or --dataset with --arch/--loss")
    sweep.parse_vectorize_seeds(vectorize_seeds)  # refused now, not after the references are written
    if executor != "ray" and (cpus_per_run is not None or gpus_per_run is not None):
        raise UsageError("--cpus-per-run and --gpus-per-run are Ray resources: give them with --executor ray "
                         "(locally, --jobs and --threads say how runs share this machine)")
    if executor == "ray":
        import importlib.util
        if importlib.util.find_spec("ray") is None:
            raise UsageError("--executor ray needs Ray: pip install 'ganbench[ray]'")
    host = _host(ctx)
    # `is not None`: an empty --budget "" or --seeds "" is a mistake to report, not "use the default"
    parsed_budget = Budget.parse(budget) if budget is not None else None
    parsed_seeds = parse_seeds(seeds) if seeds is not None else None
    if run_all or study:
        chosen = study_mod.load(study or "default")
        if parsed_seeds:
            chosen.seeds = parsed_seeds
        # checked here, so that an unknown name is not blamed on a key of the study file
        if techniques:
            for name in techniques:
                host.techniques.get(name)
            chosen.techniques = [tuple(techniques)]
        if metrics:
            for name in metrics:
                host.metrics.get(name)
            chosen.metrics = list(metrics)
    else:
        chosen = sweep.command_line_study(archs, losses, techniques, datasets, parsed_seeds or (0,),
                                          parsed_budget, metrics)
    if task is not None:
        host.tasks.get(task)  # an unknown name: one line listing the tasks
        chosen.task = task
    # jobs and Ray resources say how the sweep is executed, not what a run is: they never reach a RunSpec.
    jobs = jobs or int(chosen.run.pop("jobs", 1))
    chosen.run.pop("jobs", None)
    cpus_per_run = cpus_per_run or float(chosen.run.pop("cpus_per_run", 1))
    gpus_per_run = gpus_per_run if gpus_per_run is not None else float(chosen.run.pop("gpus_per_run", 0))
    for key in ("cpus_per_run", "gpus_per_run"):
        chosen.run.pop(key, None)
    if executor == "ray":
        jobs = 1  # Ray places the runs; threads per run follow the CPUs each reserves
    overrides = {"hparams": dict(parse_hparam(h) for h in hparams), "budget": parsed_budget,
                 "device": device, "precision": precision, "channels_last": channels_last,
                 "compile": True if compile_mode else compile_, "compile_mode": compile_mode, "threads": threads if threads else None, "eval_every": eval_every,
                 "ddp": ddp}
    processes = ddp or int(chosen.run.get("ddp", 1))   # per run: its ranks share the run's cores
    if "threads" not in chosen.run and not threads:
        overrides["threads"] = max(1, min(int(cpus_per_run) if executor == "ray"
                                          else (os.cpu_count() or 1) // (jobs * processes), 8))
    if "device" not in chosen.run and not device:
        overrides["device"] = "auto"
    plan = sweep.expand(chosen, host, overrides, max_runs=None if yes or dry_run else MAX_RUNS_WITHOUT_YES)
    preflight.check_devices((s.device for s in plan.runs),
                            "--device" if device else f"study {chosen.source}: run.device =")
    preflight.check_hparams(host, chosen, plan.runs, overrides["hparams"])
    if not dry_run:
        preflight.writable_dir(results_dir, "--results-dir")
    for name in dict.fromkeys(spec.dataset for spec in plan.runs):
        # Missing data is a usage problem, said once and at once, not a failure in every run.
        reason = host.datasets.get(name)(root=data_root, download=download).availability()
        if reason and not download:
            raise UsageError(reason)
    from ganbench.doctor import check_precision
    for run_precision, run_device in sorted({(s.precision, s.device) for s in plan.runs}):
        # A 20x slowdown is a usage problem to say before any run, not a result to record.
        warning = check_precision(run_precision, run_device, force=force_precision)
        if warning:
            sweep.log(f"warning: {warning}")
    by_reason: dict[str, list[str]] = {}
    for what, reason in plan.skipped:
        by_reason.setdefault(reason, []).append(what)
    for reason, whats in by_reason.items():
        sweep.log(f"skipped {len(whats)} ({whats[0]}{', ...' if len(whats) > 1 else ''}): {reason}")
    if not plan.runs:
        raise UsageError("no compatible combination to run" + (f" ({len(plan.skipped)} skipped, see above)" if plan.skipped else ""))
    refs = sweep.references(plan.runs, host)
    if dry_run:
        training = {}   # how each run will train: with its seeds as one group, or solo and why
        for group, reason in sweep.planned_groups(plan.runs, host, vectorize_seeds):
            for spec in group:
                training[spec.dirname] = ({"mode": "vectorized", "seeds": len(group)} if len(group) > 1
                                          else {"mode": "solo", "reason": reason})
    if dry_run and as_json:
        click.echo(json.dumps({"schema": 1, "study": chosen.name, "dry_run": True, "references": [
            {"dataset": r.dataset, "dir": os.path.join(results_dir, "references", r.dirname)} for r in refs], "runs": [
            {"name": s.name, "dir": os.path.join(results_dir, "runs", s.dirname), "budget": str(s.budget),
             "training": training[s.dirname]} for s in plan.runs],
            "skipped": [{"what": w, "reason": r} for w, r in plan.skipped]}, indent=2))
        return
    if dry_run:
        for ref in refs:
            click.echo(f"{ref.dirname}\t{'baseline' if ref.baseline else 'reference'}")
        for spec in plan.runs:
            how = training[spec.dirname]
            click.echo(f"{spec.dirname}\t{spec.budget}\t"
                       + (f"vectorized x{how['seeds']}" if how["mode"] == "vectorized" else "solo"))
        for reason, variants in _by_reason(training, plan.runs).items():
            sweep.log(f"vectorize-seeds: {', '.join(variants)} would train solo: {reason}")
        return

    study_mod.write_record(chosen, results_dir, overrides)  # the claims a `reproduce` table is judged by

    settings = sweep.Settings(results_dir=results_dir, jobs=jobs, executor=executor, ray_address=ray_address,
                              cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, vectorize_seeds=vectorize_seeds,
                              retry_failed=retry_failed, show_progress=not (quiet or as_json), data_root=data_root,
                              download=download, plugin_selection={"disable": ctx.obj.get("disable", ()),
                                                                   "only": ctx.obj.get("only", ())})
    summary = sweep.run(chosen.name, plan, refs, host, settings)
    if as_json:
        click.echo(json.dumps({"schema": 1, "study": chosen.name, "counts": summary.counts, "runs": [
            {"name": s.name, "dir": os.path.join(results_dir, "runs", s.dirname), "status": r["status"],
             "error": r.get("error")} for s, r in summary.outcomes],
            "skipped": [{"what": w, "reason": r} for w, r in plan.skipped]}, indent=2))
    else:
        for spec, result in summary.outcomes:
            click.echo(f"{result['status']}\t{os.path.join(results_dir, 'runs', spec.dirname)}")
    ctx.exit(summary.exit_code)


# ---------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins(ctx, as_json):
    """Every plugin: its distribution, version, and what it provides (or why it is broken)."""
    host = _host(ctx, strict=False)
    infos = host.plugins()
    if as_json:
        click.echo(json.dumps({"schema": 1, "ganbench_version": __version__, "plugins": [
            {"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
             "provides": p.provides, "broken": p.broken or None} for p in infos]}, indent=2))
        return
    for p in infos:
        provided = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p.provides.items()) or "(nothing)"
        click.echo(f"{p.name}\t{p.distribution} {p.version}\t{f'BROKEN: {p.broken}' if p.broken else provided}")


@cli.command("list")
@click.argument("kind", type=click.Choice(["architectures", "losses", "techniques", "datasets", "metrics",
                                           "report_formats", "tasks", "studies"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx, kind, as_json):
    """List one kind of plugin with a line of description (datasets: shape, classes, availability;
    architectures, losses, techniques: their hyperparameters and defaults, with docs in --json)."""
    if kind == "studies":
        from ganbench import study
        rows = [{"name": n, "description": study.load(n).description} for n in study.builtin_names()]
    else:
        host = _host(ctx, strict=False)
        _warn_broken(host)
        rows = []
        for cls in host.registries[kind]:
            row = {"name": cls.name, "description": cls.describe(), "paper": cls.paper,
                   "plugin": host.registries[kind].plugin_of(cls.name)}
            if kind == "datasets":
                info = cls.info
                reason = cls().availability()
                row.update(shape=list(info.shape), classes=info.num_classes, modes=info.num_modes,
                           size=dict(cls.sizes) if cls.sizes else None,
                           embedded=cls.embedded, available=reason is None, how_to_get=reason)
            elif kind == "metrics":
                reason = cls.availability()  # pretrained weights on disk; never downloads
                row.update(available=reason is None, how_to_get=reason, ranks=dict(cls.ranks),
                           mode_collapse=list(cls.mode_collapse), counts_modes=list(cls.counts_modes))
            elif kind == "report_formats":
                row.update(aliases=list(cls.aliases), default=cls.default)
            elif kind == "tasks":
                from ganbench.runner import task_members
                row.update(task_members(host, cls))
            if kind in ("architectures", "losses", "techniques"):
                row["hparams"] = [h.to_dict() for h in cls.hparam_schema()]
            rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        extra = ""
        if kind == "datasets":
            sizes = "/".join(str(n) for n in row["size"].values()) if row["size"] else "?"
            extra = f"\t{'x'.join(map(str, row['shape']))}\tclasses={row['classes']}\ttrain/val/test={sizes}\t" + \
                    ("available" if row["available"] else f"unavailable: {row['how_to_get']}")
        elif kind == "metrics":
            extra = "\t" + ("available" if row["available"] else f"unavailable: {row['how_to_get']}")
        elif kind == "tasks":
            extra = (f"\tgenerator input: {row['generator_input']}\tdatasets: {' '.join(row['datasets']) or '-'}"
                     f"\tmetrics: {' '.join(row['metrics']) or '-'}")
        elif kind == "report_formats":
            extra = "\t" + ", ".join(["aliases: " + " ".join(row["aliases"])] * bool(row["aliases"])
                                      + ["default"] * row["default"])
        elif row.get("hparams"):
            extra = "\t" + " ".join(f"{h['name']}={json.dumps(h['default'])}" for h in row["hparams"])
        click.echo(f"{row['name']}\t{row['description']}{extra}")


# ---------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--format", "formats", multiple=True, metavar="NAME",
              help="Report format (repeatable), by name or alias (`ganbench list report_formats`); "
                   "default: every loaded format that declares itself a default.")
@click.option("--out", type=click.Path(file_okay=False), help="Output directory; default RESULTS_DIR/leaderboard.")
@click.pass_context
def report(ctx, results_dir, formats, out):
    """Turn the stored runs into leaderboard tables and figures; print the paths written."""
    from ganbench.preflight import writable_dir
    from ganbench.report import build_report, resolve_formats, write_report
    host = _host(ctx, strict=False)  # stored results stay readable when an unrelated plugin breaks
    _warn_broken(host)
    if not host.report_formats.names():
        raise UsageError(f"no report format is loaded ({host.report_formats.not_loaded or 'none installed'}); "
                         f"add one with --only-plugin NAME")
    formats = [cls.name for cls in resolve_formats(host, formats)]  # unknown names fail before any work
    if not formats:
        raise UsageError("no loaded report format is written by default; name one with --format "
                         f"({', '.join(host.report_formats.names())})")
    if not os.path.isdir(os.path.join(results_dir, "runs")):
        raise UsageError(f"no runs under {results_dir}/runs; run `ganbench run --all` first or pass --results-dir")
    out = out if out is not None else os.path.join(results_dir, "leaderboard")
    writable_dir(out, "--out")  # before the minutes of reading runs and drawing figures
    rep = build_report(results_dir, host=host)
    paths = write_report(rep, out, formats=formats, host=host)
    for path in paths:
        click.echo(path)
    summary = _collection_summary(rep, paths)
    if summary:
        click.echo(f"ganbench: report: {summary}", err=True)


def _collection_summary(rep, paths: list[str]) -> str | None:
    """One line for stderr when runs could not be read: the report lists them, but nobody reads a
    report to find out that it is incomplete."""
    def count(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"
    unreadable = {p.split("/", 1)[0] for p in rep.problems
                  if not p.startswith("references/") and p.split(":", 1)[0].endswith(("/spec.json", "/result.json"))}
    unreadable_lines = sum(1 for p in rep.problems if p.split("/", 1)[0] in unreadable)
    parts = [count(len(unreadable), "run") + " unreadable"] if unreadable else []
    if rep.incomplete:
        parts.append(f"{len(rep.incomplete)} incomplete (no result.json)")
    if len(rep.problems) > unreadable_lines:
        parts.append(count(len(rep.problems) - unreadable_lines, "other problem"))
    if not parts:
        return None
    where = next((p for p in paths if p.endswith((".md", ".html"))), None)
    return ", ".join(parts) + (f": see {where}" if where else ": see the report")


# ---------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of KEY<TAB>VALUE lines.")
def doctor(as_json):
    """What this machine offers: torch, device, CPU features, threads, and whether bf16, fp16,
    torch.compile and CUDA graphs are expected to pay off here."""
    from ganbench.doctor import report as machine_report
    rows = machine_report()
    if as_json:
        click.echo(json.dumps({"schema": 1, **dict(rows)}, indent=2))
        return
    for key, value in rows:
        click.echo(f"{key}\t{value}")



@cli.command("new-plugin")
@click.argument("name")
@click.option("--kind", required=True,
              type=click.Choice(["architecture", "loss", "technique", "dataset", "metric", "report_format", "task"]))
@click.option("--out", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Directory to create the package in (as ganbench-NAME/).")
def new_plugin(name, kind, out):
    """Write a plugin package: pyproject with the entry point, the plugin, its contract tests, a README."""
    from ganbench.scaffold import new_plugin as write_package
    root = write_package(name, kind, out)
    click.echo(f"wrote {root}: edit {root / ('ganbench_' + name) / '__init__.py'}, then run pytest in {root}")
def main(argv=None) -> None:
    try:
        code = cli.main(args=argv, prog_name="ganbench", standalone_mode=False, obj={})
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("ganbench: aborted", err=True)
        sys.exit(ExitCode.RUNS_FAILED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # click's own usage errors: one line, exit 2
        click.echo(f"ganbench: error: {exc.format_message()}", err=True)
        sys.exit(ExitCode.USAGE_ERROR)
    except GanbenchError as exc:
        click.echo(f"ganbench: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("ganbench: interrupted; finished runs are stored and the others resume from their checkpoints",
                   err=True)
        sys.exit(ExitCode.RUNS_FAILED)
    except Exception as exc:
        problem = environment_problem(exc) if isinstance(exc, OSError) else None
        if problem is not None:  # a full or read-only disk is the machine's state, not a bug
            click.echo(f"ganbench: error: {_one_line(str(problem))}", err=True)
            sys.exit(problem.exit_code)
        if os.environ.get("GANBENCH_DEBUG"):
            raise
        click.echo(f"ganbench: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                   f"(set GANBENCH_DEBUG=1 for the traceback)", err=True)
        sys.exit(ExitCode.INTERNAL_ERROR)
    sys.exit(ExitCode.OK)


def _one_line(text: str) -> str:
    """stderr carries one line per error, whatever a plugin or a path puts in the message."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


