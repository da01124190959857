"""The ``bayescale`` command line (docs/formats.md).

Exit codes: 0 success; 2 bad input or options; 3 the sampler did not converge (unless
``--allow-unconverged``, which writes the result with ``"ok": false``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayescale.display import percent, three_places
from bayescale.errors import BayescaleError, ConvergenceError, InputError
from bayescale.sampling import SamplerSettings

if TYPE_CHECKING:
    from bayescale.pass_pipeline import PassOptions
    from bayescale.pipeline import LossOptions
    from bayescale.results import Result

EXIT_OK, EXIT_INPUT, EXIT_UNCONVERGED = 0, 2, 3
log = logging.getLogger("bayescale")


def _compute(text: str) -> list[float]:
    """Parse ``2.1e23`` or a comma list ``1e22,1e23`` into FLOPs.

    ``1,000`` or ``2,100,000`` (a part after a comma with a leading zero) is refused as one
    number with thousands separators; ``100,300`` stays two targets.
    """
    parts = text.strip().split(",")
    if re.fullmatch(r"\d{1,3}(,\d{3})+", text.strip()) and any(p[0] == "0" for p in parts[1:]):
        raise argparse.ArgumentTypeError(
            f"'{text.strip()}' reads as one number with thousands separators, but commas "
            f"separate targets (1e22,1e23); write it without them ({text.strip().replace(',', '')}"
            " or in e-notation)"
        )
    values = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"'{part.strip()}' is not a number of FLOPs (e.g. 2.1e23)"
            ) from None
        values.append(value)
    return values


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a probability (e.g. 0.9)") from None
    if not 0 < value < 1:
        percent = f" (a percentage: write {value:g}% as {value / 100:g})" if 1 < value < 100 else ""
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 1, exclusive{percent}")
    return value


#: ``--json -``: the result document goes to standard output.
STDOUT = "-"


def _json_target(text: str) -> Path | str:
    """``--json``'s and ``import -o``'s value: :data:`STDOUT` for ``-`` alone, else a path."""
    return STDOUT if text == STDOUT else Path(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _at_least(minimum: int, why: str) -> Callable[[str], int]:
    """A whole-number option type refusing values under ``minimum``, saying ``why``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum} ({why})")
        return value

    return parse


#: ``--draws`` and ``--chains``: the minimums of ``sampler_settings.SamplerSettings``.
_draws = _at_least(4, "split R-hat compares the halves of each chain, 2 draws or more each")
_chains = _at_least(2, "R-hat compares chains")

#: Seeds are 32-bit: what NumPy and JAX random keys take from the command line.
MAX_SEED = 2**32 - 1


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and {MAX_SEED}")
    return value


class _Once(argparse.Action):
    """Store an option that may be given once: ``--require A --require B`` would keep only B."""

    #: The end of the message when the option is given twice with different values.
    why = "one rule is checked per run. Give it once, or run once per rule."

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        earlier = getattr(namespace, self.dest, None)
        if earlier is not None and earlier is not self.default and earlier != values:
            parser.error(
                f"{option_string} given twice ('{earlier}' and '{values}'); "
                + self.remedy(earlier, values)
            )
        setattr(namespace, self.dest, values)

    def remedy(self, earlier: Any, values: Any) -> str:
        """What to do instead of giving the option twice."""
        return self.why


class _OneWhere(_Once):
    """``--where``: a second one would silently replace the first selection."""

    def remedy(self, earlier: Any, values: Any) -> str:
        joined = f"({earlier}) and ({values})"
        return f'one selection is made per run. Write one expression: --where "{joined}".'


class _OneFamily(_Once):
    """``--family``, which names the one family whose ladders a run reports."""

    why = (
        "one family's ladders are reported per run. Give it once, run once per family, or "
        "leave --family out to report every family."
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser that names an unknown option and suggests the closest one.

    Options are matched exactly (no abbreviations), and an unknown ``--option`` is reported
    before anything else (argparse would first complain about a missing required option).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        #: The other commands' parsers (set by :func:`build_parser`), to name where an
        #: option unknown here belongs.
        self.siblings: dict[str, argparse.ArgumentParser] = {}
        # "-1e21" and "-1:2e10" are values (refused with a reason by the option's checks), not
        # unknown options: argparse would say "expected one argument". No option starts "-<digit>".
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._subparsers is None:  # a command's own parser: check its options
            known = [o for o in self._option_string_actions if o.startswith("--")]
            for token in list(sys.argv[1:] if args is None else args):
                if token == "--":
                    break
                flag = token.split("=", 1)[0]
                if flag.startswith("--") and flag not in self._option_string_actions:
                    from bayescale.errors import did_you_mean

                    hint = did_you_mean(flag, known).strip()
                    owners = [
                        f"'{parser.prog}'"
                        for name, parser in sorted(self.siblings.items())
                        if flag in parser._option_string_actions and parser is not self
                    ]
                    if owners:  # not a typo: an option of another command
                        hint = (
                            f"'{self.prog}' does not take it; it is an option of "
                            f"{', '.join(owners)}."
                        )
                    self.error(
                        f"unknown option '{flag}'."
                        + (f" {hint}" if hint else "")
                        + f" See '{self.prog} --help'."
                    )
        return super().parse_known_args(args, namespace)


def _common(
    p: argparse.ArgumentParser,
    *,
    targets: bool = True,
    require_example: str = "'loss<=2.1' or 'web.loss<=2.1'",
    compute_required: bool = True,
    compute_flag: str = "--target-compute",
    compute_help: str = "target compute in FLOPs; repeat or comma-separate",
    economics: bool = True,
) -> None:
    """The options every law's command shares.

    ``compute_flag`` names the computes (``args.target_compute``): ``--budget`` for L(N, D).
    Without ``economics``, no ``--value``, ``--cost-per-flop`` or ``--allow-backcast`` (L(N,
    D) warns of a target below the data instead).
    """
    if targets:
        p.add_argument(
            compute_flag,
            dest="target_compute",
            type=_compute,
            action="append",
            required=compute_required,
            metavar="C",
            help=compute_help,
        )
        p.add_argument(
            "--fit-max-compute",
            type=float,
            metavar="C",
            help="fit only runs with compute <= C; larger runs are held out and scored",
        )
        p.add_argument(
            "--require",
            action=_Once,
            metavar="RULE",
            help=f"go/no-go rule, e.g. {require_example}",
        )
        p.add_argument(
            "--confidence",
            type=_probability,
            default=0.9,
            help="probability the rule must hold with for GO (default 0.9)",
        )
    if targets and economics:
        p.add_argument(
            "--allow-backcast",
            action="store_true",
            help="accept a target below the smallest fitted run (refused otherwise)",
        )
        p.add_argument(
            "--value",
            type=float,
            metavar="V",
            help="value of meeting the bar (any currency); with --cost-per-flop, reports the "
            "compute of maximal expected net value",
        )
        p.add_argument(
            "--cost-per-flop",
            type=float,
            metavar="K",
            help="cost of one FLOP of training, same currency as --value",
        )
    p.add_argument(
        "--interval",
        type=_probability,
        default=0.9,
        help="central predictive interval probability (default 0.9)",
    )
    p.add_argument(
        "--json",
        type=_json_target,
        metavar="PATH",
        help="write the result document here (- for stdout)",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="write report and plots here")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    defaults = SamplerSettings()
    p.add_argument(
        "--draws",
        type=_draws,
        default=defaults.draws,
        help="draws per chain (default %(default)s)",
    )
    p.add_argument(
        "--tune",
        type=int,
        default=defaults.tune,
        help="warm-up steps per chain (default %(default)s)",
    )
    p.add_argument(
        "--chains",
        type=_chains,
        default=defaults.chains,
        help="number of chains (default %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress or log messages")
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help='write results even if diagnostics fail (marked "ok": false)',
    )


def _rows(p: argparse.ArgumentParser) -> None:
    """``--where`` and ``--drop-missing``: the same data options as a spec's ``[data]``."""
    p.add_argument(
        "--where",
        action=_OneWhere,
        metavar="EXPR",
        help='keep only rows where EXPR holds, e.g. "multiplier == 1 and dataset in '
        "['c4', 'rpj']\" (comparisons, in, and/or/not on columns; nothing else)",
    )
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop rows missing a value the forecast reads (default: refuse them)",
    )


def _shared_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shared-runs",
        action="store_true",
        help="loss: groups are eval sets of the same runs; add one effect per run shared by "
        "its groups (runs by name when a name repeats across groups, else by compute)",
    )


def _likelihood(
    p: argparse.ArgumentParser, default: str | None = "normal", shown: str | None = None
) -> None:
    """``--likelihood``; ``default`` None: the law's priors' own, ``shown`` in the help."""
    p.add_argument(
        "--likelihood",
        choices=("normal", "student_t"),
        default=default,
        help=f"run-to-run scatter on log loss (default: {shown or default})",
    )


def _likelihood_given(args: argparse.Namespace) -> dict[str, Any]:
    """``{"likelihood": ...}`` when ``--likelihood`` was given, else nothing (the default)."""
    return {} if args.likelihood is None else {"likelihood": args.likelihood}


#: The table columns each law's command reads, one ``--<column>-col`` option each (``_``
#: written ``-``), defaulting to the column's name: the fields of the law's columns dataclass
#: (``data.LossColumns``, ``pass_data.PassColumns``, ``nd_data.NDColumns``,
#: ``accuracy_data.AccuracyColumns``), named here because their modules import pandas, which
#: building the parser must not (tests/test_backtest.py checks the names against them).
#: ``bayescale backtest`` takes every one, refused for the kinds that do not read it
#: (:data:`BACKTEST_KIND_OPTIONS`). ``bayescale loss`` also takes ``--loss-sd-col``.
COLUMN_OPTIONS: dict[str, tuple[str, ...]] = {
    "loss": ("compute", "loss", "group", "name"),
    "pass": ("model", "compute", "problem", "n", "k", "pass_rate", "bucket", "n_problems"),
    "nd": ("params", "tokens", "loss", "group", "name", "compute"),
    "accuracy": (
        *("model", "family", "compute", "benchmark", "accuracy", "n_questions", "chance"),
        *("params", "tokens"),
    ),
}


#: Every law's columns, each once (the ``--*-col`` options of ``bayescale backtest``).
_ALL_COLUMNS = tuple(dict.fromkeys(col for columns in COLUMN_OPTIONS.values() for col in columns))


def _kinds_reading(column: str) -> tuple[str, ...]:
    """The laws (``bayescale backtest`` kinds) whose tables have ``column``."""
    return tuple(kind for kind, columns in COLUMN_OPTIONS.items() if column in columns)


def _column_options(
    parser: argparse.ArgumentParser, columns: Iterable[str], **special: dict[str, Any]
) -> None:
    """Add ``--<column>-col COL`` (default: the column's name) for each of ``columns``, once.

    ``special`` maps a column to its other ``add_argument`` keywords (``help``, a ``default``
    of ``None``).
    """
    for col in dict.fromkeys(columns):
        options = {"default": col, "metavar": "COL"} | special.get(col, {})
        parser.add_argument(f"--{col.replace('_', '-')}-col", **options)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bayescale``."""
    from bayescale.version import __version__

    parser = _Parser(
        prog="bayescale",
        description="Forecast what a large training run will achieve, with honest uncertainty.",
        epilog="examples:\n"
        "  bayescale demo\n"
        "  bayescale loss runs.csv --target-compute 2.1e23 --require 'loss<=2.1' --out out/\n"
        "  bayescale pass results.csv --target-compute 2e22 --buckets 6 --out out/\n"
        "  bayescale forecast out/fit.nc --target-compute 5e23\n"
        "  bayescale check models/demo-loss.toml\n"
        "  bayescale run models/demo-loss.toml --out out/\n"
        "'bayescale COMMAND --help' shows each command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bayescale {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    loss = sub.add_parser(
        "loss",
        help="forecast the final loss from a table of runs",
        description="Fit L(C) = a*C^b + c per group with partial pooling and forecast a new "
        "run at the target compute.",
        epilog="example: bayescale loss runs.csv --target-compute 2.1e23 "
        "--require 'loss<=2.1' --out out/",
    )
    loss.add_argument("runs", help="CSV or Parquet table of runs (compute, loss[, group, name])")
    _column_options(
        loss,
        COLUMN_OPTIONS["loss"],
        group={
            "metavar": "COL[,COL]",
            "help": "group label column; several comma-separated columns are joined into one label",
        },
    )
    loss.add_argument(
        "--loss-sd-col",
        metavar="COL",
        help="per-run standard error of the loss (or 'lo,hi' columns of a 95%% interval), "
        "added to the scatter in the likelihood",
    )
    loss.add_argument(
        "--method",
        choices=("bayes", "bootstrap"),
        default="bayes",
        help="'bootstrap': least-squares point fits on resampled runs (no run-to-run scatter, "
        "no sampling), for comparison",
    )
    _rows(loss)
    _common(loss)
    _likelihood(loss)
    _shared_runs(loss)

    nd = sub.add_parser(
        "nd",
        help="forecast loss in parameters and tokens, L(N, D), and the compute-optimal split",
        description="Fit L(N, D) = E + A/N^alpha + B/D^beta per group with partial pooling; "
        "forecast new runs at (N, D) targets and the compute-optimal N*, D* per budget.",
        epilog="example: bayescale nd runs.csv --target 7e9:4e12 --budget 1e23 "
        "--require 'loss<=2.5' --out out/",
    )
    nd.add_argument("runs", help="CSV or Parquet table (params, tokens, loss[, group, compute])")
    nd.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="N:D",
        help="parameters:tokens of a planned run, e.g. 7e9:4e12; repeat or comma-separate",
    )
    _column_options(
        nd,
        COLUMN_OPTIONS["nd"],
        compute={"default": None, "help": "training compute column (default: 6*N*D)"},
    )
    _rows(nd)
    _common(
        nd,
        require_example="'loss<=2.5' or 'c4.loss<=2.5'",
        compute_required=False,
        compute_flag="--budget",
        compute_help="compute budget in FLOPs for the optimal N*, D*; repeat or comma-separate",
        economics=False,
    )
    _likelihood(nd, default=None, shown="student_t")

    pas = sub.add_parser(
        "pass",
        help="forecast pass rates per difficulty bucket from per-problem or aggregate results",
        description="Fit -E[ln pass_rate] = alpha*C^(-k) per difficulty bucket with partial "
        "pooling, per-problem effects and model-level scatter (binomial likelihood on "
        "per-problem counts), and forecast a new model at the target compute. The input "
        "format is told by its columns: model, compute, problem, n, k (per problem) or "
        "model, compute, pass_rate[, bucket] (aggregate).",
        epilog="example: bayescale pass results.csv --target-compute 2e22 --buckets 6 "
        "--exclude-hardest 15 --require 'pass_rate>=0.03' --out out/",
    )
    pas.add_argument("results", help="CSV or Parquet table of pass results")
    pas.add_argument(
        "--buckets",
        type=_positive_int,
        default=None,
        help="difficulty buckets (default 6, fewer for under 60 problems: 10 or more a bucket)",
    )
    pas.add_argument(
        "--exclude-hardest",
        type=int,
        default=0,
        metavar="N",
        help="set aside the N hardest problems before bucketing (report: 15)",
    )
    pas.add_argument(
        "--bucket-by",
        metavar="MODELS",
        help="comma-separated models whose pass rates order the problems "
        "(default: all fitted models)",
    )
    pas.add_argument(
        "--eligibility",
        choices=("all", "solved-by-all"),
        default="all",
        help="'solved-by-all' keeps only problems every fitted model solved "
        "once (the GPT-4 report's rule, for comparison)",
    )
    pas.add_argument("--k", type=_positive_int, metavar="K", help="also forecast pass@K")
    _column_options(pas, COLUMN_OPTIONS["pass"])
    _rows(pas)
    _common(pas, require_example="'pass_rate>=0.3' (overall) or 'bucket2.pass_rate>=0.5'")

    imp = sub.add_parser(
        "import",
        help="turn evaluation-harness outputs into a per-problem pass table",
        description="Read one harness output file per model (EvalPlus eval_results.json, "
        "lm-evaluation-harness --log_samples JSONL, bigcode-evaluation-harness results) and "
        "write the table model, compute, problem, n, k that 'bayescale pass' reads. Give "
        "--model and --compute (or --params and --tokens, C = 6*N*D) once per file, in order, "
        "or once for files of one model (its tasks).",
        epilog="example: bayescale import evalplus small/eval_results.json big/eval_results.json "
        "--model small --model big --params 1e9 --params 7e9 --tokens 2e11 --tokens 2e11 "
        "-o table.csv",
    )
    imp.add_argument("format", choices=("evalplus", "lm-eval", "bigcode"), help="harness")
    imp.add_argument("files", nargs="*", type=Path, help="one output file per model")
    imp.add_argument(
        "--models",
        type=Path,
        metavar="CSV",
        help="table with columns file, model, compute (or params, tokens): instead of FILES",
    )
    imp.add_argument("--model", action="append", metavar="NAME", help="model label, per file")
    for name, what in [
        ("compute", "training FLOPs"),
        ("params", "parameters N"),
        ("tokens", "training tokens D"),
    ]:
        imp.add_argument(
            f"--{name}", action="append", type=float, metavar="X", help=f"{what}, per file"
        )
    imp.add_argument(
        "-o",
        "--output",
        type=_json_target,
        metavar="CSV",
        help="write here (default, or -: stdout)",
    )
    imp.add_argument("--append", action="store_true", help="add the models to an existing -o table")
    imp.add_argument("--tests", choices=("base", "plus"), help="evalplus: test set (default plus)")
    imp.add_argument("--metric", help="lm-eval: 0/1 or pass@1 metric key (default: inferred)")
    imp.add_argument("--filter", help="lm-eval: filter name when the file holds several")
    imp.add_argument(
        "--problem-field", metavar="FIELD", help="lm-eval: label problems by doc[FIELD]"
    )
    imp.add_argument("--task", help="bigcode: task of an evaluation_results.json with several")
    imp.add_argument("--quiet", action="store_true", help="no log messages")

    demo = sub.add_parser(
        "demo",
        help="run the embedded default forecast on the project's seeded simulation",
        epilog="example: bayescale demo --out bayescale-out/demo",
    )
    _common(demo, targets=False)
    _likelihood(demo)
    demo.set_defaults(out=Path("bayescale-out/demo"))

    _backtest_parser(sub)

    forecast = sub.add_parser(
        "forecast",
        help="answer new targets and requirements from a saved fit, without sampling",
        description="Load DIR/fit.nc written by --out and forecast again. With the same "
        "--seed (default: the seed of the saved run) the numbers are identical.",
        epilog="example: bayescale forecast out/fit.nc --target-compute 5e23 "
        "--require 'web.loss<=2.5' --json new.json",
    )
    forecast.add_argument("saved_fit", type=Path, help="fit.nc written by --out")
    forecast.add_argument(
        "--target-compute",
        type=_compute,
        action="append",
        default=[],
        metavar="C",
        help="target compute in FLOPs; repeat or comma-separate (loss and pass fits)",
    )
    forecast.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="N:D",
        help="parameters:tokens of a planned run (L(N, D) fits, accuracy fits on the "
        "effective-compute axis); repeat or comma-separate",
    )
    forecast.add_argument(
        "--budget",
        type=_compute,
        action="append",
        default=[],
        metavar="C",
        help="compute budget in FLOPs for the optimal N*, D* (L(N, D) fits); repeatable",
    )
    forecast.add_argument(
        "--require",
        action=_Once,
        metavar="RULE",
        help="go/no-go rule, e.g. 'loss<=2.1' or 'pass_rate>=0.3'",
    )
    forecast.add_argument(
        "--allow-backcast",
        action="store_true",
        help="accept a target below the smallest fitted run (refused otherwise)",
    )
    forecast.add_argument(
        "--family",
        action=_OneFamily,
        metavar="F",
        help="accuracy fits: forecast this family's ladders (default: the saved run's)",
    )
    forecast.add_argument(
        "--confidence",
        type=_probability,
        default=None,
        help="probability for GO (default: the saved run's, else 0.9)",
    )
    forecast.add_argument(
        "--interval",
        type=_probability,
        default=None,
        help="interval probability (default: the saved run's)",
    )
    forecast.add_argument("--value", type=float, metavar="V", help="value of meeting the bar")
    forecast.add_argument("--cost-per-flop", type=float, metavar="K", help="cost of one FLOP")
    forecast.add_argument(
        "--seed",
        type=_seed,
        default=None,
        help="seed of the predictive draws (default: the saved run's)",
    )
    forecast.add_argument(
        "--json", type=_json_target, metavar="PATH", help="write the result here (- for stdout)"
    )
    forecast.add_argument("--out", type=Path, metavar="DIR", help="write report and plots here")
    forecast.add_argument("--quiet", action="store_true", help="no log messages")
    forecast.add_argument(
        "--allow-unconverged",
        action="store_true",
        help='forecast from a fit that failed the diagnostics gate (marked "ok": false)',
    )
    acc = sub.add_parser(
        "accuracy",
        help="forecast benchmark accuracies above a chance floor, per family and benchmark",
        description="Fit -ln((p - g)/(1 - g)) = alpha*C^(-k) per (family, benchmark) with a\n"
        "family effect and a benchmark effect (partial pooling) and forecast a new model's\n"
        "accuracy at the target compute (--target-compute C), or at planned models of N\n"
        "parameters and D tokens (--target N:D: C is then Chinchilla's effective compute).\n"
        "Table: model, family, compute, benchmark, accuracy[, n_questions][, chance]\n"
        "[, params, tokens]. Chance rates g come from --chance, a chance column, or the\n"
        "defaults for named benchmarks (docs/accuracy.md).",
        epilog="examples:\n"
        "  bayescale accuracy evals.csv --target-compute 1e24 --family Llama "
        "--require 'mmlu.accuracy>=0.7' --out out/\n"
        "  bayescale accuracy evals.csv --target 70e9:2e12 --family Llama  "
        "# params, tokens columns: the law on Chinchilla's effective compute",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    acc.add_argument("table", help="CSV or Parquet table, one row per (model, benchmark)")
    acc.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="N:D",
        help="parameters:tokens of a planned model, e.g. 70e9:2e12; repeat or comma-separate. "
        "Instead of --target-compute: the law then runs on Chinchilla's effective compute "
        "of the table's params and tokens columns (docs/accuracy.md)",
    )
    acc.add_argument(
        "--family", action=_OneFamily, metavar="F", help="forecast only this family's benchmarks"
    )
    acc.add_argument(
        "--chance",
        action="append",
        default=[],
        metavar="BENCH=G",
        help="chance rate of a benchmark (repeat), e.g. mmlu=0.25, or mmlu=learn to learn its "
        "floor; overrides column and default (a benchmark with none learns its floor)",
    )
    _floor_option(acc)
    _column_options(acc, COLUMN_OPTIONS["accuracy"])
    _rows(acc)
    _common(acc, compute_required=False)
    _spec_commands(sub)
    _suite_parser(sub)
    for command in sub.choices.values():
        if isinstance(command, _Parser):
            command.siblings = dict(sub.choices)
    return parser


def _floor_option(parser: argparse.ArgumentParser) -> None:
    """``--floor``: where the accuracy law's floors come from (docs/accuracy.md)."""
    parser.add_argument(
        "--floor",
        choices=("chance", "below_chance"),
        default="chance",
        help="accuracy: 'chance' (default) fixes each floor at the benchmark's chance rate; "
        "'below_chance' learns it between 0 (the line without a floor) and the rate",
    )


def _suite_parser(sub: Any) -> None:
    """``bayescale suite SPEC_OR_SUITE... --out DIR``: logic in :mod:`bayescale.suite`."""
    suite = sub.add_parser(
        "suite",
        help="run many specs, fits and backtests (local worker processes or Ray)",
        description="Run forecast specs (models/*.toml) and suite files ([[fit]] and "
        "[[backtest]] tables, docs/suites.md) as independent jobs. Writes DIR/summary.json, "
        "DIR/summary.md and DIR/runs/NAME/; a rerun reuses every unchanged job that "
        "succeeded. Exit code 0 when every job succeeded.",
        epilog="examples:\n"
        "  bayescale suite models/*.toml --out out/suite\n"
        "  bayescale suite suite.toml --out out/suite --workers 2 --max-fits-per-worker 50\n"
        "  bayescale suite suite.toml --out out/suite --executor ray --address auto",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    suite.add_argument("inputs", nargs="+", type=Path, help="specs and suite files (TOML)")
    suite.add_argument("--out", type=Path, required=True, metavar="DIR", help="suite folder")
    suite.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="default: local"
    )
    suite.add_argument("--address", metavar="A", help="Ray cluster address (default: start one)")
    suite.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="parallel jobs (default: one per two cores); 0 runs them in this process",
    )
    suite.add_argument(
        "--max-fits-per-worker",
        type=_positive_int,
        default=20,
        metavar="N",
        help="jobs a worker process runs before it is replaced (default 20)",
    )
    suite.add_argument(
        "--allow-outside-data",
        action="store_true",
        help="let the specs given here read data outside their folders (trusted specs only)",
    )
    suite.add_argument("--quiet", action="store_true", help="no progress lines")


def _run_suite_command(args: argparse.Namespace) -> int:
    from bayescale.config import usable_cores
    from bayescale.suite import WorkerConfig, format_progress, read_suite, run_suite

    if args.workers is not None and args.workers < 0:
        raise InputError(f"--workers {args.workers}: give 0 (in this process) or more.")
    if args.address is not None and args.executor != "ray":
        raise InputError("--address is for --executor ray.")
    jobs = read_suite(args.inputs, allow_outside_data=args.allow_outside_data)
    tty = sys.stderr.isatty()

    def progress(p: Any) -> None:
        if args.quiet:
            return
        line = f"bayescale suite: {format_progress(p)}"
        if tty:
            end = "\n" if p.done == p.total else ""
            print(f"\r\033[K{line}", end=end, file=sys.stderr, flush=True)
        elif p.last is not None:
            print(line, file=sys.stderr, flush=True)

    executor = "inline" if args.workers == 0 and args.executor == "local" else args.executor
    workers = args.workers or max(1, usable_cores() // 2)
    # local workers share the cores: a few JAX devices each (a fit still asks for one per chain)
    devices = max(1, usable_cores() // workers) if executor == "local" else None
    result = run_suite(
        jobs,
        args.out,
        entry=main,
        executor=executor,
        workers=workers,
        max_fits_per_worker=args.max_fits_per_worker,
        address=args.address,
        config=WorkerConfig(devices=devices),
        progress=progress,
    )
    print(f"Summary: {args.out / 'summary.md'} ({len(result.runs)} runs)")
    for run in result.failed:
        print(
            f"bayescale suite: {run['name']} failed ({run['status']}, exit code "
            f"{run['exit_code']}): {run['message']}",
            file=sys.stderr,
        )
    if result.failed:
        print(
            f"bayescale suite: {len(result.failed)} of {len(result.runs)} runs failed; "
            f"their logs are in {args.out / 'runs'}/NAME/log.txt.",
            file=sys.stderr,
        )
    return result.exit_code


def _spec_commands(sub: Any) -> None:
    """``bayescale run SPEC`` and ``bayescale check SPEC`` (docs/formats.md, docs/specs.md)."""
    run = sub.add_parser(
        "run",
        help="run the forecast a spec file describes (models/*.toml)",
        description="Run the forecast named by a TOML spec: data, columns, law, buckets,\n"
        "priors, sampler, targets, decision (every key: models/README.md).\n"
        "Options given here override the spec.",
        epilog="examples:\n"
        "  bayescale run models/demo-loss.toml --out out/demo-loss\n"
        "  bayescale run models/demo-pass-rate.toml --target-compute 3e23 --seed 1 --quiet\n"
        "  bayescale run models/llama1-code.toml --json llama.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check = sub.add_parser(
        "check",
        help="validate a spec file and its data without sampling",
        description="Validate a spec (unknown keys, types, the law, priors, sampler settings)\n"
        "and its data (file, columns, rows, buckets, the requirement's group or bucket)\n"
        "as 'run' would, without sampling. Exit code 0 when it would run, 2 if not.",
        epilog="examples:\n"
        "  bayescale check models/demo-loss.toml\n"
        "  bayescale check models/demo-pass-rate.toml --data my_results.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for p in (run, check):
        p.add_argument("spec", type=Path, help="spec file, e.g. models/demo-loss.toml")
        p.add_argument(
            "--data",
            default=argparse.SUPPRESS,
            metavar="PATH",
            help="read this table instead of the spec's data.path",
        )
    keep = argparse.SUPPRESS  # absent unless given, so the spec's value stands
    run.add_argument(
        "--target-compute",
        type=_compute,
        action="append",
        default=keep,
        metavar="C",
        help="target compute in FLOPs; repeat or comma-separate (overrides forecast.targets)",
    )
    run.add_argument(
        "--target",
        action="append",
        default=keep,
        metavar="N:D",
        help="L(N, D) specs: parameters:tokens of a planned run; repeat or comma-separate "
        "(overrides forecast.runs)",
    )
    run.add_argument(
        "--budget",
        type=_compute,
        action="append",
        default=keep,
        metavar="C",
        help="L(N, D) specs: compute budget in FLOPs for the optimal N*, D*; repeat or "
        "comma-separate (overrides forecast.targets, the budgets)",
    )
    for flag, kind, meta, key in [
        ("--fit-max-compute", float, "C", "data.fit_max_compute"),
        ("--require", str, "RULE", "decision.require"),
        ("--confidence", _probability, "Q", "decision.confidence"),
        ("--value", float, "V", "decision.value"),
        ("--cost-per-flop", float, "K", "decision.cost_per_flop"),
        ("--interval", _probability, "P", "forecast.interval"),
        ("--seed", _seed, "N", "sampler.seed"),
        ("--draws", _draws, "N", "sampler.draws"),
        ("--tune", int, "N", "sampler.tune"),
        ("--chains", _chains, "N", "sampler.chains"),
    ]:
        once = {"action": _Once} if flag == "--require" else {}
        run.add_argument(
            flag, type=kind, default=keep, metavar=meta, help=f"overrides {key}", **once
        )
    for p in (run, check):
        p.add_argument(
            "--where", action=_OneWhere, default=keep, metavar="EXPR", help="overrides data.where"
        )
        p.add_argument(
            "--drop-missing", action="store_true", default=keep, help="overrides data.drop_missing"
        )
        p.add_argument(
            "--allow-backcast",
            action="store_true",
            default=keep,
            help="accept a target below the smallest fitted run",
        )
    run.add_argument(
        "--json",
        type=_json_target,
        metavar="PATH",
        help="write the result document here (- for stdout)",
    )
    run.add_argument(
        "--out", type=Path, metavar="DIR", help="write report, plots and fit.nc (with the spec)"
    )
    run.add_argument(
        "--allow-unconverged",
        action="store_true",
        help='write results even if diagnostics fail (marked "ok": false)',
    )
    for p in (run, check):
        p.add_argument("--quiet", action="store_true", help="no progress or log messages")
        p.add_argument(
            "--allow-outside-data",
            action="store_true",
            help="let the spec's data.path point outside the spec's folder (trusted specs only)",
        )


#: The backtest options that only some kinds take (by argparse ``dest``): any other kind
#: refuses them (:func:`_refuse_other_kinds`). The rest (ratios, sampler, interval, outputs,
#: ``--compute-col``) apply to every kind. A column's kinds are those that read it
#: (:data:`COLUMN_OPTIONS`).
BACKTEST_KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "bootstrap": ("loss", "pass"),
    "no_baselines": ("loss", "pass"),
    "buckets": ("pass",),
    "exclude_hardest": ("pass",),
    "likelihood": ("loss", "nd"),
    "shared_runs": ("loss",),
    "chance": ("accuracy",),
    "floor": ("accuracy",),
    "axis": ("accuracy",),
} | {
    f"{col}_col": _kinds_reading(col)
    for col in _ALL_COLUMNS
    if len(_kinds_reading(col)) < len(COLUMN_OPTIONS)  # not --compute-col: every kind's
}


def _refuse_other_kinds(args: argparse.Namespace) -> None:
    """Refuse the backtest options given that the kind does not take (exit 2), all named."""
    wrong = [
        f"--{dest.replace('_', '-')} ({', '.join(kinds)} only)"
        for dest, kinds in BACKTEST_KIND_OPTIONS.items()
        if args.kind not in kinds and getattr(args, dest) != args.kind_option_defaults[dest]
    ]
    if wrong:
        raise InputError(
            f"'bayescale backtest {args.kind}' does not take {', '.join(wrong)}: leave "
            f"{'it' if len(wrong) == 1 else 'them'} out."
        )


def _backtest_parser(sub: Any) -> None:
    """``bayescale backtest {loss,pass,nd,accuracy} FILE --ratio R``: :mod:`bayescale.backtest`."""
    bt = sub.add_parser(
        "backtest",
        help="leave the largest runs out, forecast them, score against baselines",
        description="Fit on runs with compute <= max/R (per group or bucket), forecast every "
        "held-out run, and score coverage of the 50/80/90% intervals, error of the median, "
        "CRPS and width for bayescale and three baselines (least-squares point fit, its "
        "bootstrap, a separate Bayesian fit per group/bucket).",
        epilog="example: bayescale backtest loss runs.csv --ratio 10 --ratio 100 --out bt/",
    )
    bt.add_argument("kind", choices=("loss", "pass", "nd", "accuracy"), help="what the table holds")
    bt.add_argument("file", help="CSV or Parquet table (as for `bayescale loss` / `pass`)")
    bt.add_argument(
        "--ratio",
        type=_compute,
        action="append",
        required=True,
        metavar="R",
        help="fit on compute <= max/R; repeat or comma-separate for several splits",
    )
    bt.add_argument(
        "--bootstrap", type=_positive_int, default=200, help="loss, pass: bootstrap resamples"
    )
    bt.add_argument("--no-baselines", action="store_true", help="loss, pass: score bayescale only")
    bt.add_argument(
        "--buckets",
        type=_positive_int,
        default=None,
        help="pass: difficulty buckets (default 6, fewer for under 60 problems)",
    )
    bt.add_argument("--exclude-hardest", type=int, default=0, metavar="N", help="pass only")
    _column_options(
        bt,
        _ALL_COLUMNS,
        compute={"default": None, "help": "training compute column (default: compute; nd: 6*N*D)"},
    )
    bt.add_argument(
        "--chance",
        action="append",
        default=[],
        metavar="BENCH=G",
        help="accuracy: chance rate of a benchmark (repeat), e.g. mmlu=0.25, or mmlu=learn",
    )
    _floor_option(bt)
    bt.add_argument(
        "--axis",
        choices=("compute", "chinchilla"),
        help="accuracy: the law's axis (default: 'chinchilla', Chinchilla's effective "
        "compute with each held-out model at its own N and D, when every row has params and "
        "tokens; else 'compute')",
    )
    _common(bt, targets=False)
    _likelihood(bt, default=None, shown="normal for loss, student_t for nd")
    _shared_runs(bt)
    bt.set_defaults(
        kind_option_defaults={dest: bt.get_default(dest) for dest in BACKTEST_KIND_OPTIONS}
    )


def _run_backtest_command(args: argparse.Namespace) -> int:
    from bayescale.backtest import load_for_backtest, run_backtests
    from bayescale.backtest_report import (
        backtest_markdown,
        backtests_document,
        write_backtest_outputs,
    )
    from bayescale.data import LossColumns
    from bayescale.pass_data import PassColumns
    from bayescale.priors import LossPriors

    _refuse_other_kinds(args)
    shared = _shared_options(args)
    columns: Any
    if args.kind == "nd":  # compute is 6*N*D unless --compute-col names a column
        from bayescale.nd import NDColumns

        columns = _columns(NDColumns, args)
    elif args.kind == "accuracy":
        from bayescale.accuracy_data import AccuracyColumns

        columns = _columns(AccuracyColumns, args)
    else:
        columns = _columns(LossColumns if args.kind == "loss" else PassColumns, args)
    loader: dict[str, Any] = {}
    if args.kind == "accuracy":
        from bayescale.accuracy_data import parse_chance

        loader["chance"] = parse_chance(args.chance)
    data = load_for_backtest(args.kind, args.file, columns, **loader)
    kwargs: dict[str, Any] = {"settings": shared["sampler"], "interval": args.interval}
    if args.kind in ("loss", "pass"):  # the laws with baselines
        kwargs |= {"baselines": not args.no_baselines, "n_boot": args.bootstrap}
    if args.kind == "loss":
        kwargs["priors"] = LossPriors(**_likelihood_given(args), shared_runs=args.shared_runs)
    elif args.kind == "nd":
        from bayescale.nd_data import NDPriors

        kwargs["priors"] = NDPriors(**_likelihood_given(args))
    elif args.kind == "accuracy":
        kwargs |= {"floor": args.floor, "axis": args.axis}
    elif args.kind == "pass":
        kwargs |= {"n_buckets": args.buckets, "exclude_hardest": args.exclude_hardest}
    backtests = run_backtests(data, [r for group in args.ratio for r in group], **kwargs)
    failed = [bt.ratio for bt in backtests if not bt.ok]
    if failed and not args.allow_unconverged:
        return _unconverged(
            ConvergenceError(
                "the sampler did not converge for bayescale's fit at ratio "
                + ", ".join(f"{r:g}" for r in failed)
            )
        )
    if args.json:
        _write_document(backtests_document(backtests), args)
    if args.out:
        for path in write_backtest_outputs(backtests, args.out):
            log.info("wrote %s", path)
    print(backtest_markdown(backtests))
    return EXIT_OK


def _write_document(document: dict[str, object], args: argparse.Namespace) -> None:
    """Write the result document where ``--json`` says: a file, or stdout for ``--json -``.

    With ``-`` the document is all that goes to stdout (:func:`_human_to_stderr` sends the
    summary to stderr), so ``bayescale loss t.csv --json - | python -m json.tool`` reads it.
    """
    from bayescale.outputs import json_text, write_json

    if args.json == STDOUT:
        stream = getattr(args, "document_stream", sys.stdout)  # set by _human_to_stderr
        stream.write(json_text(document))
        stream.flush()
    else:
        write_json(document, args.json)


def _human_to_stderr(args: argparse.Namespace) -> Any:
    """With ``--json -``: keep stdout for the document, print everything else to stderr."""
    import contextlib

    if getattr(args, "json", None) != STDOUT:
        return contextlib.nullcontext()
    args.document_stream = sys.stdout
    return contextlib.redirect_stdout(sys.stderr)


def _shared_options(args: argparse.Namespace) -> dict[str, object]:
    values: dict[str, object] = {
        "interval": args.interval,
        "allow_unconverged": args.allow_unconverged,
        "sampler": SamplerSettings(
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            seed=args.seed,
            progress=False if args.quiet else None,
        ),
    }
    if hasattr(args, "target_compute"):  # accuracy and nd may give --target N:D instead
        values["targets"] = tuple(v for group in args.target_compute or () for v in group)
        values["requirement"] = args.require
        values["confidence"] = args.confidence
        values["fit_max_compute"] = args.fit_max_compute
        values["value"] = getattr(args, "value", None)  # not on L(N, D)'s command
        values["cost_per_flop"] = getattr(args, "cost_per_flop", None)
        values["allow_backcast"] = getattr(args, "allow_backcast", False)
    if hasattr(args, "where"):
        values["where"] = args.where
        values["drop_missing"] = args.drop_missing
    return values


def _columns(cls: type, args: argparse.Namespace) -> Any:
    """A law's columns dataclass from the ``--<field>-col`` options the command has.

    An option left at ``None`` keeps the field's default (``--compute-col`` of ``backtest``:
    ``compute``, or 6·N·D for L(N, D)).
    """
    names = [f.name for f in dataclasses.fields(cls) if hasattr(args, f"{f.name}_col")]
    given = {name: getattr(args, f"{name}_col") for name in names}
    return cls(**{name: value for name, value in given.items() if value is not None})


def _pass_options(args: argparse.Namespace) -> PassOptions:
    from bayescale.pass_data import PassColumns
    from bayescale.pass_pipeline import PassOptions

    bucket_by = tuple(m.strip() for m in args.bucket_by.split(",")) if args.bucket_by else None
    return PassOptions(
        **_shared_options(args),  # type: ignore[arg-type]
        n_buckets=args.buckets,
        exclude_hardest=args.exclude_hardest,
        bucket_by=bucket_by,
        eligibility=args.eligibility,
        k=args.k,
        columns=_columns(PassColumns, args),
    )


def _options(args: argparse.Namespace, **overrides: object) -> LossOptions:
    from bayescale.data import LossColumns
    from bayescale.pipeline import LossOptions
    from bayescale.priors import LossPriors

    values = _shared_options(args)
    values["priors"] = LossPriors(
        likelihood=args.likelihood, shared_runs=getattr(args, "shared_runs", False)
    )
    if getattr(args, "runs", None):
        values["columns"] = _columns(LossColumns, args)
    values.update(overrides)
    return LossOptions(**values)  # type: ignore[arg-type]


def _summary(result: Result[Any, Any, Any], *, sampled: bool = True) -> str:
    """The command line's lines of any registered law's result (its entry's ``summary``)."""
    from bayescale.registry import law_of

    lines = [law_of(result).summary(result)]
    for d in result.decisions:
        lines.append(d.sentence())
        lines.append(_needed_line(d))
    if result.choice is not None:
        lines.append(result.choice.sentence())
    diag = result.fit.diagnostics
    when = (
        f"sampling {result.fit.timing_s['sampling']:.1f} s"
        if sampled
        else "from the saved fit, nothing sampled"
    )
    lines.append(
        f"Diagnostics: {'ok' if diag.ok else 'FAILED'} (R-hat {diag.r_hat_max:.3f}, "
        f"ESS {diag.ess_bulk_min:.0f}, {diag.divergences} divergences); {when}."
    )
    lines += [f"Warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def _needed_line(d: Any) -> str:
    """Compute needed with its interval, for the summary."""
    return (
        f"  compute needed: the curve meets {d.requirement.text} {d.needed_span()} "
        f"({percent(d.confidence)} interval)."
    )


def _write(
    result: Result[Any, Any, Any],
    args: argparse.Namespace,
    spec: str | None = None,
    *,
    sampled: bool = True,
) -> None:
    from bayescale.result_files import write_outputs

    if args.json:
        _write_document(result.document(), args)
    if args.out:
        for path in write_outputs(result, args.out, spec=spec):
            log.info("wrote %s", path)
    print(_summary(result, sampled=sampled))
    if args.out:
        print(f"Report: {args.out / 'report.md'}")


def _run_forecast_command(args: argparse.Namespace) -> int:
    """``bayescale forecast``: a saved fit of any law answers again, nothing sampled.

    One rule for every law: targets given replace the saved run's (``--target-compute``;
    ``--target N:D`` and ``--budget`` where the law takes them), none given reuses the saved
    run's, as ``--require``, ``--confidence`` and ``--interval`` default to the saved run's.
    """
    from dataclasses import replace

    from bayescale.saved import load_fit

    saved = load_fit(args.saved_fit)
    fit = saved.fit
    kind = saved.kind
    if kind != "nd" and (args.budget or (args.target and kind != "accuracy")):
        option = "--budget" if args.budget else "--target N:D"
        raise InputError(
            f"{args.saved_fit} holds {_a(kind)} fit: {option} is for L(N, D) fits"
            + ("" if args.budget else " and accuracy fits on effective compute")
            + "; give --target-compute C (FLOPs) to forecast."
        )
    if kind == "nd" and (
        args.target_compute or args.value is not None or args.cost_per_flop is not None
    ):
        raise InputError(
            f"{args.saved_fit} holds an L(N, D) fit: give --target N:D and/or --budget C "
            "(not --target-compute, --value or --cost-per-flop)."
        )
    if args.family is not None and kind != "accuracy":
        raise InputError(f"{args.saved_fit} holds {_a(kind)} fit: --family is for accuracy.")
    runs = _nd_pairs(args.target)
    computes = tuple(v for group in (args.budget or args.target_compute) for v in group)
    if args.seed is not None:  # the forecast's streams; the sampler's seed stays recorded
        fit = replace(fit, forecast_seed=args.seed)
    given = {
        "requirement": args.require,
        "confidence": args.confidence,
        "interval": args.interval,
        "value": args.value,
        "cost_per_flop": args.cost_per_flop,
        "family": args.family,
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    changes |= {"sampler": fit.settings, "allow_backcast": args.allow_backcast}
    if computes or runs:  # the targets given replace the saved run's
        changes["targets"] = computes
        if kind in ("nd", "accuracy"):  # planned runs (N, D) beside or instead of computes
            changes["runs"] = runs
    else:
        log.info("no targets given: the saved run's")
    log.info("loaded %s; no sampling", args.saved_fit)
    result = replace(saved, fit=fit).result(**changes)  # refuses bad options (exit 2) first
    if not fit.diagnostics.ok and not args.allow_unconverged:
        return _saved_unconverged(args, fit)
    _write(result, args, sampled=False)
    return EXIT_OK


def _saved_unconverged(args: argparse.Namespace, fit: Any) -> int:
    """Exit 3 for a saved fit that did not converge (after its options were checked)."""
    return _unconverged(
        ConvergenceError(
            f"{args.saved_fit} holds a fit that did not converge: "
            + "; ".join(fit.diagnostics.problems())
        )
    )


def _a(word: str) -> str:
    """``word`` with its indefinite article, for messages about a saved fit's kind.

    >>> [_a(kind) for kind in ("loss", "pass", "accuracy", "nd")]
    ['a loss', 'a pass', 'an accuracy', 'an nd']
    """
    return f"{'an' if word[0] in 'aeiou' or word == 'nd' else 'a'} {word}"


def _nd_pairs(texts: Sequence[str]) -> tuple[tuple[float, float], ...]:
    """``--target N:D`` values (repeated or comma-separated) as ``(N, D)`` pairs."""
    pairs = []
    for text in (part.strip() for given in texts for part in given.split(",")):
        try:
            n_text, d_text = text.split(":")
            pairs.append((float(n_text), float(d_text)))
        except ValueError:
            raise InputError(
                f"--target '{text}' is not N:D (parameters:tokens, e.g. 7e9:4e12)."
            ) from None
    return tuple(pairs)


def _run_nd_command(args: argparse.Namespace) -> int:
    """``bayescale nd``: the registry's L(N, D) entry (:mod:`bayescale.nd_pipeline`)."""
    from bayescale.nd import NDColumns, NDPriors
    from bayescale.nd_pipeline import NDOptions

    options = NDOptions(
        **_shared_options(args),  # type: ignore[arg-type]
        runs=_nd_pairs(args.target),
        columns=_columns(NDColumns, args),
        priors=NDPriors(**_likelihood_given(args)),
    )
    return _run_law(args, args.runs, options)


def _run_accuracy_command(args: argparse.Namespace) -> int:
    """``bayescale accuracy``: the registry's accuracy entry (:mod:`bayescale.accuracy`)."""
    from bayescale.accuracy_data import AccuracyColumns, parse_chance
    from bayescale.accuracy_pipeline import AccuracyOptions

    options = AccuracyOptions(
        **_shared_options(args),  # type: ignore[arg-type]
        runs=_nd_pairs(args.target),
        family=args.family,
        chance=parse_chance(args.chance),
        columns=_columns(AccuracyColumns, args),
        floor=args.floor,
    )
    return _run_law(args, args.table, options)


def _unconverged(err: ConvergenceError, asked: Any = None) -> int:
    """Exit 3 with the fit's message.

    ``asked``, the run's ``SamplerSettings``, adds a note when fewer draws or warm-up steps
    than the defaults were asked for.
    """
    message = str(err).rstrip(".")
    if "--allow-unconverged" in message:  # the fit's own advice already says what to do
        print(f"bayescale: {message}.{_few_draws_note(asked)}", file=sys.stderr)
    else:
        print(
            f"bayescale: {message}. Run longer (--draws/--tune), check the data, or pass "
            f"--allow-unconverged to write the result anyway.{_few_draws_note(asked)}",
            file=sys.stderr,
        )
    return EXIT_UNCONVERGED


def _few_draws_note(asked: Any) -> str:
    """A sentence when the run asked for fewer draws or warm-up steps than the defaults.

    The gate's thresholds (ESS, R-hat) are the same; a short run fails them for want of draws,
    whatever the exit-3 advice says about the data.
    """
    from bayescale.sampling import SamplerSettings

    if asked is None:
        return ""
    default = SamplerSettings()
    short = [
        f"--{name} {getattr(asked, name)} (default {getattr(default, name)})"
        for name in ("draws", "tune")
        if getattr(asked, name) < getattr(default, name)
    ]
    if not short:
        return ""
    return (
        f" This run asked for {' and '.join(short)}: run with the defaults before changing the "
        "data or the model."
    )


def _run_law(
    args: argparse.Namespace, source: Any, options: Any, heading: str = "", spec: str | None = None
) -> int:
    """Run a forecast of the options' law from ``source``, then print and write the result.

    ``heading`` is printed before the summary; ``spec`` (a spec's text) is saved in ``fit.nc``.
    """
    from bayescale.registry import law_of

    try:
        result = law_of(options).run(source, options)
    except ConvergenceError as err:
        return _unconverged(err, options.sampler)
    if heading:
        print(heading)
    _write(result, args, spec=spec)
    return EXIT_OK


def _run_pass_command(args: argparse.Namespace) -> int:
    return _run_law(args, args.results, _pass_options(args))


def _run_loss_command(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from bayescale.data import load_loss_runs
        from bayescale.simulate import (
            DEMO_LABEL,
            DEMO_REQUIREMENT,
            DEMO_TARGET,
            demo_loss_runs,
        )

        options = _options(args, targets=(DEMO_TARGET,), requirement=DEMO_REQUIREMENT)
        return _run_law(args, load_loss_runs(demo_loss_runs(), label=DEMO_LABEL), options)
    options = _options(args)
    if args.method == "bootstrap":
        return _run_bootstrap(args, options)
    return _run_law(args, args.runs, options)


def _run_bootstrap(args: argparse.Namespace, options: LossOptions) -> int:
    """``bayescale loss --method bootstrap``: the point-fit bootstrap, no sampling."""
    from bayescale.data import load_loss_runs
    from bayescale.forecast import loss_target_warnings
    from bayescale.options import check_options
    from bayescale.outputs import result_folder, write_json
    from bayescale.point_fits import bootstrap_document, bootstrap_forecast
    from bayescale.targets import check_targets

    check_options(options)
    if options.requirement:
        raise InputError(
            "--require needs predictive draws of a new run; --method bootstrap gives an "
            "interval of the fitted curve only. Use --method bayes (the default) to decide."
        )
    defaults = SamplerSettings()
    unused = [
        name
        for name, given in (
            ("--draws", args.draws != defaults.draws),
            ("--tune", args.tune != defaults.tune),
            ("--chains", args.chains != defaults.chains),
            ("--likelihood", args.likelihood != "normal"),
            ("--allow-unconverged", args.allow_unconverged),
            ("--shared-runs", getattr(args, "shared_runs", False)),
        )
        if given
    ]
    if unused:  # warned, not refused: a script may switch --method and keep the rest
        log.warning(
            "warning: %s: not used by --method bootstrap, which fits least squares to "
            "resampled runs without sampling (use --method bayes for them).",
            ", ".join(unused),
        )
    data = load_loss_runs(
        args.runs,
        options.columns,
        options.fit_max_compute,
        where=options.where,
        drop_missing=options.drop_missing,
    )
    targets = check_targets(options.targets)
    warnings = loss_target_warnings(
        data, targets, options.priors, allow_backcast=options.allow_backcast
    )
    for message in warnings:
        log.warning("warning: %s", message)
    table = bootstrap_forecast(
        data, targets, options.interval, n_boot=200, seed=options.sampler.seed
    )
    document = bootstrap_document(table, options.interval, warnings)
    if args.json:
        _write_document(document, args)
    if args.out:  # the folder as a whole, as every --out: no earlier run's files stay
        with result_folder(args.out) as stage:
            write_json(document, stage / "forecast.json")
        log.info("wrote %s", Path(args.out) / "forecast.json")
    pct = f"{percent(options.interval)}"
    cells: dict[str, dict[float, str]] = {}
    for r in table.to_dict("records"):
        cells.setdefault(str(r["group"]), {})[r["target_compute"]] = (
            f"{three_places(r['median'])} [{three_places(r['lower'])}, {three_places(r['upper'])}]"
        )
    print(
        f"Final loss by the point-fit bootstrap (median [{pct} interval] of least-squares fits "
        "to resampled runs; the curve only, no run-to-run scatter, no law discrepancy):"
    )
    from bayescale.report import summary_grid

    print("\n".join(summary_grid("group", cells, [float(t) for t in targets])))
    for message in warnings:
        print(f"Warning: {message}")
    return EXIT_OK


#: ``run`` options that override a spec, and the spec option each one sets.
_SPEC_OVERRIDES = {
    "data": "data",
    "target_compute": "targets",
    "target": "runs",
    "budget": "budgets",
    "fit_max_compute": "fit_max_compute",
    "require": "requirement",
    "confidence": "confidence",
    "value": "value",
    "cost_per_flop": "cost_per_flop",
    "interval": "interval",
    "seed": "seed",
    "draws": "draws",
    "tune": "tune",
    "chains": "chains",
    "allow_outside_data": "allow_outside_data",
    "where": "where",
    "drop_missing": "drop_missing",
    "allow_backcast": "allow_backcast",
}


def _run_spec_command(args: argparse.Namespace) -> int:
    from bayescale.spec import check_spec, data_source, load_spec, spec_options

    spec = load_spec(args.spec)
    given = vars(args)
    overrides: dict[str, Any] = {
        new: given[old] for old, new in _SPEC_OVERRIDES.items() if old in given
    }
    for key in ("targets", "budgets"):
        if key in overrides:
            overrides[key] = [v for group in overrides[key] for v in group]
    if "runs" in overrides:
        overrides["runs"] = _nd_pairs(overrides["runs"])
    overrides["quiet"] = args.quiet
    lines = check_spec(spec, overrides)  # every input error before any sampling
    if args.command == "check":
        print("\n".join(lines))
        print(f"OK: {args.spec} and its data are valid (nothing was sampled).")
        return EXIT_OK
    overrides["allow_unconverged"] = args.allow_unconverged
    source = data_source(spec, overrides)
    overrides.pop("allow_outside_data", None)
    options = spec_options(spec, overrides)
    log.info("spec %s ('%s'): law %s", spec.path, spec.name, spec.law.formula)
    log.info(lines[1])  # what the data hold
    heading = f"{spec.name} ({args.spec})"
    return _run_law(args, source, options, heading=heading, spec=spec.text)


def _run_import_command(args: argparse.Namespace) -> int:
    from bayescale.importers import import_command

    options = {k: v for k, v in vars(args).items() if k not in ("command", "format", "quiet")}
    if options["output"] == STDOUT:  # -o -: standard output, as --json - is
        options["output"] = None
    table = import_command(args.format, **options)
    if options["output"] is None:
        print(table.to_csv(index=False), end="")
    return EXIT_OK


class _StderrHandler(logging.StreamHandler[Any]):
    """Write to whatever ``sys.stderr`` is at the time (tests and notebooks replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_logging(*, quiet: bool) -> None:
    """Send bayescale's own progress messages to stderr, nothing from other libraries."""
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("bayescale: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.WARNING if quiet else logging.INFO)


#: Exit code of a run ended by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: The one line a Ctrl-C leaves on stderr.
INTERRUPTED = "bayescale: interrupted (Ctrl-C); no file was left half-written."


def _check_output_paths(args: argparse.Namespace) -> None:
    """Refuse ``--json`` and ``--out`` destinations that cannot be written, before any work."""
    from bayescale.outputs import check_output_file, check_output_folder

    json_path, out = getattr(args, "json", None), getattr(args, "out", None)
    if getattr(args, "output", None) not in (None, STDOUT):  # bayescale import -o TABLE.csv
        check_output_file(args.output, "-o")
    if json_path == STDOUT:  # standard output: nothing to check, nothing to collide with
        json_path = None
    if json_path is not None:
        check_output_file(json_path, "--json")
    if out is not None:
        check_output_folder(out, "--out")
    if (
        json_path is not None
        and out is not None
        and Path(json_path).absolute().is_relative_to(Path(out).absolute())
    ):
        raise InputError(
            f"--json {json_path} lies inside --out {out}, which is replaced as a whole by "
            "this run's files (forecast.json among them); write --json elsewhere."
        )
    for given in _input_files(args):
        real = given.resolve()
        if json_path is not None and Path(json_path).resolve() == real:
            raise InputError(
                f"--json {json_path} is this command's input {given}: writing the result there "
                "would replace it. Write --json elsewhere."
            )
        if out is not None and real.is_relative_to(Path(out).resolve()):
            raise InputError(
                f"--out {out} holds this command's input {given}, and --out is replaced as a "
                "whole by the run's files. Choose another --out folder."
            )


#: Options that name what a command writes (``import -o`` may also be read, with --append).
OUTPUT_OPTIONS = ("json", "out", "output")


def _input_files(args: argparse.Namespace) -> list[Path]:
    """Existing files named by the command's other options and arguments: what it reads."""
    found = []
    for name, value in vars(args).items():
        if name in OUTPUT_OPTIONS:
            continue
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, str | Path) and str(item) and Path(item).is_file():
                found.append(Path(item))
    return found


def _output_lock(args: argparse.Namespace) -> Any:
    """Hold the ``--out`` folder's writer lock for the whole run: a second run is refused."""
    import contextlib

    from bayescale.outputs import folder_lock

    out = getattr(args, "out", None)
    return folder_lock(out, "--out") if out is not None else contextlib.nullcontext()


def _quiet_jax_cache() -> None:
    """Turn the persistent JAX cache off, with one log line, when its folder is read-only.

    JAX would otherwise warn once per compiled program it fails to write.
    """
    import os
    import tempfile

    from bayescale.config import CACHE_ENV, compilation_cache_dir

    folder = compilation_cache_dir()
    if folder is None or not os.path.isdir(folder):
        return  # off, or created (or found uncreatable, quietly) when the first fit starts
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        os.environ[CACHE_ENV] = "off"
        log.info("JAX compilation cache off: %s is not writable (%s)", folder, exc.strerror)


def _configure_process(args: argparse.Namespace) -> None:
    """Set up JAX and PyTensor for this command (:func:`bayescale.configure`), importing neither.

    One JAX CPU device per chain (at least one per core), the persistent compilation cache
    (``$BAYESCALE_JAX_CACHE``, ``off`` to disable), float32 when ``$BAYESCALE_FLOAT32`` asks.
    The device count is left alone where JAX already runs (``main`` called from Python) or
    one was already asked for (``JAX_NUM_CPU_DEVICES``, a suite worker).
    """
    from bayescale.config import (
        configure,
        devices_set,
        float32_requested,
        jax_started,
        usable_cores,
    )

    chains = getattr(args, "chains", None) or SamplerSettings.chains
    keep = jax_started() or devices_set()
    configure(
        devices=None if keep else max(chains, usable_cores()),
        compilation_cache=True,
        float32=float32_requested(),
    )


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, but an import's FILE arguments may follow its options.

    argparse fills ``import``'s ``files`` (``nargs="*"``) at the first positional tokens and
    leaves files after an option (``import evalplus --models CSV FILE``, ``--model m F2``)
    to the top-level "unrecognized arguments"; they are files, in order, and
    :func:`bayescale.importers.import_command` judges them (with ``--models``: refused, saying
    what to leave out). Other commands' strays keep argparse's error.
    """
    args, extra = parser.parse_known_args(argv)
    files_only = not any(token.startswith("-") for token in extra)
    if extra and getattr(args, "command", None) == "import" and files_only:
        args.files = [*args.files, *map(Path, extra)]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayescale`` command."""
    parser = build_parser()
    args = _parse(parser, argv)
    _configure_logging(quiet=args.quiet)
    try:
        _check_output_paths(args)
        _quiet_jax_cache()
        _configure_process(args)
        with _output_lock(args), _human_to_stderr(args):
            return _dispatch(args)
    except InputError as err:
        print(f"bayescale: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except BayescaleError as err:  # pragma: no cover - every subclass is handled above
        print(f"bayescale: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout's reader left early (`bayescale ... | head`): not an error
        _stdout_to_devnull()
        return EXIT_OK
    except OSError as err:  # a path the system refuses (name too long, a loop of links, ...)
        if err.filename is None:
            raise
        print(
            f"bayescale: error: {err.filename}: {err.strerror or err}. Check the path given.",
            file=sys.stderr,
        )
        return EXIT_INPUT


#: The cyclic garbage collector's thresholds in the command's process (Python's: 2000, 10,
#: 10). Most of a command's objects are modules and model graphs that live until it ends.
COMMAND_GC_THRESHOLDS = (20_000, 20, 20)


def run() -> int:
    """The ``bayescale`` command: :func:`main` on ``sys.argv``, its exit code.

    The command's process collects cyclic garbage less often (:data:`COMMAND_GC_THRESHOLDS`:
    a loss fit's collections took 0.21 s instead of 0.34 s, 0.15 s less CPU in all). It ends
    right after, so its objects are frozen (``gc.freeze``) first: Python's exit then runs the
    atexit handlers, joins threads and clears the modules as usual but skips the collector's
    passes over them, which with PyMC, PyTensor, JAX and matplotlib loaded took 0.7-1.0 s of a
    loss fit's command (0.14 s with them frozen; the forecast of a saved fit 0.15 s).
    :func:`main` called from Python leaves the collector alone.
    """
    import gc

    gc.set_threshold(*COMMAND_GC_THRESHOLDS)
    try:
        code = main()
    except KeyboardInterrupt:  # before main's own handler: parsing the options
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    gc.freeze()
    _end_quietly_on_ctrl_c()
    return code


def _end_quietly_on_ctrl_c() -> None:
    """Let a Ctrl-C after the command's work end the process at once, without a traceback.

    Every file is written by then; Python's exit (atexit handlers, threads, modules) would
    otherwise turn a late Ctrl-C into a ``KeyboardInterrupt`` traceback. The output streams
    are flushed first, since a process ended by the signal does not flush them.
    """
    import contextlib
    import signal

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or its reader left
            stream.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises nothing more."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (main() from Python)
        pass


#: The function that runs each command of :func:`build_parser`.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "loss": _run_loss_command,
    "demo": _run_loss_command,
    "pass": _run_pass_command,
    "nd": _run_nd_command,
    "accuracy": _run_accuracy_command,
    "forecast": _run_forecast_command,
    "run": _run_spec_command,
    "check": _run_spec_command,
    "import": _run_import_command,
    "backtest": _run_backtest_command,
    "suite": _run_suite_command,
}


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command ``args`` names (:data:`COMMANDS`)."""
    if args.command not in COMMANDS:  # a parser's command without its function: a bug
        raise RuntimeError(f"bayescale has no function for the command {args.command!r}")
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(run())
