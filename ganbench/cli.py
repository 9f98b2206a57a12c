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
from ganbench.errors import ExitCode, GanbenchError, UsageError


def _host(ctx: click.Context):
    """Load plugins once per invocation, honouring --disable-plugin / --only-plugin."""
    obj = ctx.ensure_object(dict)
    if "host" not in obj:
        from ganbench import plugins
        obj["host"] = plugins.load(disable=obj.get("disable", ()), only=obj.get("only", ()))
    return obj["host"]


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
    2 usage error (unknown name, bad option, broken plugin); 3 internal error.
    """
    ctx.ensure_object(dict).update(disable=disable, only=only)


# ---------------------------------------------------------------------------------------------------
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
@click.option("--hparam", "hparams", multiple=True, metavar="NAME=VALUE", help="Override a hyperparameter (repeatable).")
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default=None, help="Default: auto.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=None, help="Autocast dtype; default fp32.")
@click.option("--channels-last", is_flag=True, default=None, help="Use channels_last memory format for images.")
@click.option("--compile", "compile_", is_flag=True, default=None, help="torch.compile G and D (opt-in).")
@click.option("--force-precision", is_flag=True,
              help="Run a --precision this machine is known to run slowly (bf16 on a CPU without native bf16).")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch.set_num_threads (recorded; results depend on it).")
@click.option("--eval-every", type=click.IntRange(0), default=None, help="Steps between held-out evaluations.")
@click.option("--data-root", type=click.Path(file_okay=False), help="Where torchvision datasets live ($GANBENCH_DATA).")
@click.option("--download", is_flag=True, help="Allow downloading torchvision datasets that are missing.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("-j", "--jobs", type=click.IntRange(1), default=None,
              help="Local runs in parallel, one process each (threads per run default to cores / jobs); "
                   "default: the study's run.jobs, else 1.")
@click.option("--vectorize-seeds", default="auto", show_default=True, metavar="K|auto",
              help="Train up to K seeds of one configuration as one batched computation (auto: all, at most 8; "
                   "1: off). Configurations it does not cover run solo, the reason on stderr.")
@click.option("-n", "--dry-run", is_flag=True, help="List the runs (and the skipped combinations) without running.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.pass_context
def run(ctx, run_all, study, archs, losses, techniques, datasets, seeds, budget, metrics, hparams, results_dir,
        device, precision, channels_last, compile_, force_precision, threads, eval_every, data_root, download, executor,
        jobs, vectorize_seeds, dry_run, quiet, as_json):
    """Train and evaluate every requested combination; store each run under RESULTS_DIR/runs/."""
    from ganbench import study as study_mod
    from ganbench import sweep
    from ganbench.spec import Budget, parse_hparam, parse_seeds

    if run_all and study:
        raise UsageError("give either --all or --study, not both")
    selection = archs or losses or techniques or datasets
    if (run_all or study) and (archs or losses or datasets):
        raise UsageError("--arch/--loss/--dataset select an ad-hoc study; they cannot be combined with --all or --study")
    if not (run_all or study or selection):
        raise UsageError("nothing to run: give --all, --study NAME, or --dataset with --arch/--loss")
    host = _host(ctx)
    parsed_budget = Budget.parse(budget) if budget else None
    parsed_seeds = parse_seeds(seeds) if seeds else None
    if run_all or study:
        chosen = study_mod.load(study or "default")
        if parsed_seeds:
            chosen.seeds = parsed_seeds
        if techniques:
            chosen.techniques = [tuple(techniques)]
        if metrics:
            chosen.metrics = list(metrics)
    else:
        chosen = sweep.command_line_study(archs, losses, techniques, datasets, parsed_seeds or (0,),
                                          parsed_budget, metrics)
    # jobs is how the sweep is executed, not part of any run: it never reaches a RunSpec.
    jobs = jobs or int(chosen.run.pop("jobs", 1))
    chosen.run.pop("jobs", None)
    overrides = {"hparams": dict(parse_hparam(h) for h in hparams), "budget": parsed_budget,
                 "device": device, "precision": precision, "channels_last": channels_last,
                 "compile": compile_, "threads": threads if threads else None, "eval_every": eval_every}
    if "threads" not in chosen.run and not threads:
        overrides["threads"] = max(1, min((os.cpu_count() or 1) // jobs, 8))
    if "device" not in chosen.run and not device:
        overrides["device"] = "auto"
    plan = sweep.expand(chosen, host, overrides)
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
    refs = sweep.references(plan.runs)
    if dry_run:
        for ref in refs:
            click.echo(f"{ref.dirname}\treference")
        for spec in plan.runs:
            click.echo(f"{spec.dirname}\t{spec.budget}")
        return

    study_mod.write_record(chosen, results_dir, overrides)  # the claims a `reproduce` table is judged by

    from functools import partial

    from ganbench.runner import execute, execute_reference
    for ref in refs:
        # Seconds, not minutes: real data through the metrics, the row every table is read against.
        done = execute_reference(ref, results_dir, host=host, data_root=data_root, download=download)
        if done.get("metric_errors"):
            sweep.log(f"reference {ref.dirname}: metric errors {done['metric_errors']}")
    progress = None if quiet or as_json else _progress_factory()
    from ganbench import store
    if all(store.RunDir(results_dir, spec.dirname).finished for spec in plan.runs):
        jobs = 1  # every run is stored: reading results back needs no worker processes
    parallel = executor == "ray" or jobs > 1
    fn = partial(execute, results_dir=results_dir, data_root=data_root, download=download,
                 progress=None if parallel else progress)
    if executor == "ray":
        runner = sweep.RayExecutor()
    elif jobs > 1:
        runner = sweep.ProcessExecutor(jobs, {"disable": ctx.obj.get("disable", ()), "only": ctx.obj.get("only", ())})
    else:
        runner = sweep.LocalExecutor()
        fn = partial(fn, host=host)
    runner = sweep.SeedGroupExecutor(runner, vectorize_seeds, host=host)
    sweep.log(f"study {chosen.name}: {len(plan.runs)} runs, {len(plan.skipped)} combinations skipped; results in {results_dir}/runs")
    outcomes = []
    outer = progress(total=len(plan.runs), desc="sweep", position=0) if progress else None
    for spec, result in runner.map(fn, plan.runs):
        outcomes.append((spec, result))
        if outer:
            outer.update(1)
        if result["status"] != "completed":
            sweep.log(f"{result['status']}: {spec.name}: {result.get('error')}")
    if outer:
        outer.close()
    counts = sweep.summarise(outcomes)
    if as_json:
        click.echo(json.dumps({"schema": 1, "study": chosen.name, "counts": counts, "runs": [
            {"name": s.name, "dir": os.path.join(results_dir, "runs", s.dirname), "status": r["status"],
             "error": r.get("error")} for s, r in outcomes],
            "skipped": [{"what": w, "reason": r} for w, r in plan.skipped]}, indent=2))
    else:
        for spec, result in outcomes:
            click.echo(f"{result['status']}\t{os.path.join(results_dir, 'runs', spec.dirname)}")
    sweep.log("summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    bad = sum(n for k, n in counts.items() if k != "completed")
    if bad:
        ctx.exit(ExitCode.RUNS_FAILED)


def _progress_factory():
    from tqdm import tqdm

    def make(**kwargs):
        position = kwargs.pop("position", 1)
        return tqdm(file=sys.stderr, leave=False, dynamic_ncols=True, position=position, **kwargs)
    return make


# ---------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins(ctx, as_json):
    """Every plugin: its distribution, version, and what it provides."""
    host = _host(ctx)
    infos = host.plugins()
    if as_json:
        click.echo(json.dumps({"schema": 1, "ganbench_version": __version__, "plugins": [
            {"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
             "provides": p.provides} for p in infos]}, indent=2))
        return
    for p in infos:
        provided = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p.provides.items()) or "(nothing)"
        click.echo(f"{p.name}\t{p.distribution} {p.version}\t{provided}")


@cli.command("list")
@click.argument("kind", type=click.Choice(["architectures", "losses", "techniques", "datasets", "metrics",
                                           "report_formats", "studies"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx, kind, as_json):
    """List one kind of plugin with a line of description (datasets: shape, classes, availability)."""
    if kind == "studies":
        from ganbench import study
        rows = [{"name": n, "description": study.load(n).description} for n in study.builtin_names()]
    else:
        host = _host(ctx)
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
                row.update(available=reason is None, how_to_get=reason)
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
        click.echo(f"{row['name']}\t{row['description']}{extra}")


# ---------------------------------------------------------------------------------------------------
FORMAT_ALIASES = {"md": "markdown", "tex": "latex"}


@cli.command()
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--format", "formats", multiple=True, metavar="NAME",
              help="Report format (repeatable): markdown (md), csv, json, latex (tex), html, or a plugin's; default all.")
@click.option("--out", type=click.Path(file_okay=False), help="Output directory; default RESULTS_DIR/leaderboard.")
@click.pass_context
def report(ctx, results_dir, formats, out):
    """Turn the stored runs into leaderboard tables and figures; print the paths written."""
    from ganbench.report import build_report, write_report
    host = _host(ctx)
    formats = tuple(FORMAT_ALIASES.get(name, name) for name in formats)
    for name in formats:
        host.report_formats.get(name)
    if not os.path.isdir(os.path.join(results_dir, "runs")):
        raise UsageError(f"no runs under {results_dir}/runs; run `ganbench run --all` first or pass --results-dir")
    rep = build_report(results_dir, host=host)
    paths = write_report(rep, out or os.path.join(results_dir, "leaderboard"),
                         formats=tuple(formats) or tuple(host.report_formats.names()), host=host)
    for path in paths:
        click.echo(path)


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
        click.echo(f"ganbench: error: {exc}", err=True)
        sys.exit(ExitCode.USAGE_ERROR)
    except KeyboardInterrupt:
        click.echo("ganbench: interrupted; finished runs are stored and the others resume from their checkpoints",
                   err=True)
        sys.exit(ExitCode.RUNS_FAILED)
    except Exception as exc:
        if os.environ.get("GANBENCH_DEBUG"):
            raise
        click.echo(f"ganbench: internal error: {type(exc).__name__}: {exc} (set GANBENCH_DEBUG=1 for the traceback)",
                   err=True)
        sys.exit(ExitCode.INTERNAL_ERROR)
    sys.exit(ExitCode.OK)


