"""Importers of harness outputs (tier 1, no sampler) and `bayescale import` -> `bayescale pass`
end to end with the mocked sampler. The fixtures under tests/data/importers/ are small files
written by hand in each harness's format; the expected tables next to them are hand-made CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.importers import (
    combine_tables,
    import_bigcode,
    import_evalplus,
    import_files,
    import_lm_eval,
    missing_problems,
    model_computes,
    read_model_map,
    write_table,
)
from bayescale.pass_data import load_pass_counts

DATA = Path(__file__).parent / "data" / "importers"
EVALPLUS = [DATA / "evalplus" / m / "eval_results.json" for m in ("tiny", "small", "medium")]
LM_EVAL = [
    DATA / "lm_eval" / m / "samples_humaneval_2024-06-01T10-15-30.123456.jsonl"
    for m in ("m1", "m2", "m3")
]
GSM8K = DATA / "lm_eval" / "filters" / "samples_gsm8k_2024-06-01T10-15-30.123456.jsonl"
BIGCODE = [DATA / "bigcode" / f"{m}_execution_results.json" for m in ("m1", "m2", "m3")]
FAST = ["--draws", "20", "--tune", "20", "--chains", "2", "--quiet", "--allow-unconverged"]


def expected(name: str) -> pd.DataFrame:
    table = pd.read_csv(DATA / name, dtype={"model": object, "problem": object})
    return table.astype({"compute": float, "n": "int64", "k": "int64"})


def check_table(table: pd.DataFrame, name: str) -> None:
    pd.testing.assert_frame_equal(table.reset_index(drop=True), expected(name))


# ------------------------------------------------------------------ tables equal hand-made CSVs


@pytest.mark.parametrize(("tests", "name"), [("plus", "plus"), ("base", "base")])
def test_evalplus_both_layouts_give_the_hand_made_table(tests, name):
    computes = model_computes(3, params=[1e9, 3e9, 7e9], tokens=[2e10, 6e10, 1.4e11])
    table = import_files("evalplus", EVALPLUS, computes, tests=tests)  # labels from the folders
    check_table(table, f"evalplus_expected_{name}.csv")


def test_lm_eval_repeats_and_both_file_versions_give_the_hand_made_table():
    table = import_files("lm-eval", LM_EVAL, [1e20, 1e21, 1e22])
    check_table(table, "lm_eval_expected.csv")


def test_bigcode_execution_results_give_the_hand_made_table():
    table = import_files("bigcode", BIGCODE, [3e20, 3e21, 3e22], ["m1", "m2", "m3"])
    check_table(table, "bigcode_expected.csv")


def test_imported_table_loads_as_pass_counts():
    table = import_files("evalplus", EVALPLUS, [1e20, 1e21, 1e22], ["a", "b", "c"])
    counts = load_pass_counts(table)
    assert counts.k.tolist() == [[2, 1, 0, 0], [3, 1, 1, 0], [4, 2, 1, 0]]
    assert (counts.n == 4).all()


def test_lm_eval_filter_metric_and_problem_field():
    strict = import_lm_eval(GSM8K, model="m", compute=1e20, filter="strict-match")
    flexible = import_lm_eval(GSM8K, model="m", compute=1e20, filter="flexible-extract")
    assert strict["k"].tolist() == [1, 0, 0] and flexible["k"].tolist() == [1, 1, 0]
    assert strict["problem"].tolist() == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    assert (strict["n"] == 1).all()
    by_id = import_lm_eval(LM_EVAL[2], compute=1e22, problem_field="task_id")
    assert by_id["problem"].tolist() == [f"HumanEval/{i}" for i in range(4)]
    assert by_id["model"].iloc[0] == "m3"


def test_lm_eval_greedy_multiple_choice_and_nested_metric(tmp_path):
    lines = [
        {"doc_id": 0, "filtered_resps": [[-1.2, False], [-0.3, True]], "acc": 1.0},
        {"doc_id": 1, "filtered_resps": [[-0.2, True], [-0.9, False]], "acc": 0},
        {"doc_id": 2, "filtered_resps": [[-0.5, True]], "acc": True},
    ]
    path = tmp_path / "arc.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    table = import_lm_eval(path, model="m", compute=1.0)
    assert table[["problem", "n", "k"]].values.tolist() == [["0", 1, 1], ["1", 1, 0], ["2", 1, 1]]
    nested = tmp_path / "he.jsonl"
    nested.write_text(
        json.dumps({"doc_id": 0, "filtered_resps": [["a", "b"]], "pass_at_k": {"pass@1": 0.5}})
    )
    assert import_lm_eval(nested, model="m", compute=1.0, metric="pass_at_k.pass@1")["k"][0] == 1


@pytest.mark.parametrize("with_resps", [True, False])
def test_lm_eval_one_loglikelihood_request_is_one_sample(tmp_path, with_resps):
    # lm-eval >= 0.4.3 writes responses as strings: lambada_openai's filtered entry
    # ["-1.23", "True"] was read as 2 generated samples (n=2, k=2 for acc 1).
    line = {"doc_id": 0, "filtered_resps": [["-1.234", "True"]], "acc": 1.0}
    if with_resps:
        line["resps"] = [[["-1.234", "True"]]]
    path = write(tmp_path, "samples_lambada_openai_2024-11-20T10-10-33.1.jsonl", json.dumps(line))
    assert import_lm_eval(path, compute=1.0)[["n", "k"]].values.tolist() == [[1, 1]]
    two = {"doc_id": 0, "resps": [["a", "b"]], "filtered_resps": [["a", "b"]], "pass@1": 0.5}
    assert import_lm_eval(write(tmp_path, "g.jsonl", json.dumps(two)), compute=1.0)["n"][0] == 2


def test_bigcode_metrics_file_gives_an_aggregate_row():
    path = DATA / "bigcode" / "m1_evaluation_results.json"
    row = import_bigcode(path, compute=3e20)
    assert row.to_dict("records") == [
        {"model": "org/coder-m1", "compute": 3e20, "pass_rate": pytest.approx(1 / 12)}
    ]


def test_compute_from_params_and_tokens_is_6nd():
    assert model_computes(2, params=[1e9, 2e9], tokens=[1e10, 1e10]) == [6e19, 1.2e20]


# ------------------------------------------------------------------------------ pointed errors


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def evalplus_file(tmp_path, eval_):
    return write(tmp_path, "eval_results.json", json.dumps({"date": "x", "eval": eval_}))


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (
            lambda t: write(t, "eval_results.json", '{"eval": {"HumanEval/0": [}'),
            ["line 1 column", "not valid JSON"],
        ),
        (
            lambda t: write(t, "eval_results.json", json.dumps({"results": {}})),
            ["no 'eval' key", "'results'"],
        ),
        (
            lambda t: evalplus_file(t, {"HumanEval/0": {"nfiles": 3, "base": [["success", []]]}}),
            ["eval['HumanEval/0']", "'nfiles' says 3", "holds 1"],
        ),
        (
            lambda t: evalplus_file(
                t, {"HumanEval/0": {"base": [["success", []]] * 2, "plus": [["success", []]]}}
            ),
            ["'plus' holds 1", "'base' holds 2"],
        ),
        (
            lambda t: evalplus_file(t, {"HumanEval/0": [{"base_status": "ok"}]}),
            ["eval['HumanEval/0'][0]['base_status']", "unknown status 'ok'"],
        ),
        (
            lambda t: evalplus_file(t, {"HumanEval/0": [{"solution": "x"}]}),
            ["eval['HumanEval/0'][0]", "'base_status'"],
        ),
        (
            lambda t: evalplus_file(
                t, {"HumanEval/0": [{"base_status": "pass", "plus_status": None}]}
            ),
            ["--base-only", "--tests base"],
        ),
    ],
)
def test_evalplus_errors_name_the_key(tmp_path, make, fragments):
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        import_evalplus(path, model="m", compute=1.0)
    assert str(path) in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("lines", "options", "fragments"),
    [
        (['{"doc_id": 0, "acc": 1}', '{"doc_id": 1, "acc": 1'], {}, ["line 2", "not a JSON"]),
        (['{"doc_id": 0, "acc": 1}', '{"acc": 1}'], {}, ["line 2", "no 'doc_id'"]),
        (['{"doc_id": 0, "acc": 1}', '{"doc_id": 0, "acc": 0}'], {}, ["line 2", "first on line 1"]),
        (['{"doc_id": 0, "f1": 0.5}'], {}, ["line 1", "f1", "--metric"]),
        (['{"doc_id": 0, "length_info": [], "f1": 0.5}'], {}, ["(metric keys: f1)"]),
        (['{"doc_id": 0, "acc": 1}'], {"metric": "ac"}, ["no metric 'ac'", "Did you mean 'acc'"]),
        (
            ['{"doc_id": 0, "filtered_resps": [["a", "b", "c"]], "pass@1": 0.5}'],
            {},
            ["= 0.5 over 3 sample(s)", "not a whole number"],
        ),
        (['{"doc_id": 0, "exact_match": 1, "acc": 0}'], {}, ["cannot tell which metric"]),
        (
            [
                '{"doc_id": 0, "exact_match": 1, "filter": "a"}',
                '{"doc_id": 0, "exact_match": 1, "filter": "b"}',
            ],
            {},
            ["2 filters (a, b)", "--filter"],
        ),
        (['{"doc_id": 0, "acc": 1}'], {"problem_field": "task_id"}, ["no field 'task_id'"]),
    ],
)
def test_lm_eval_errors_name_the_line(tmp_path, lines, options, fragments):
    path = write(tmp_path, "samples.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        import_lm_eval(path, model="m", compute=1.0, **options)
    assert str(path) in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize("name", ["eval_results.json", "samples.jsonl", "results.json"])
def test_json_nested_too_deeply_is_refused(tmp_path, name):
    # json.loads raised RecursionError (a traceback) on 100,000 nested brackets.
    path = write(tmp_path, name, "[" * 100_000 + "\n")
    importer = {"eval_results.json": import_evalplus, "samples.jsonl": import_lm_eval}
    with pytest.raises(InputError, match="nested too deeply") as err:
        importer.get(name, import_bigcode)(path, model="m", compute=1.0)
    assert str(path) in str(err.value)


def test_evalplus_empty_object_says_so(tmp_path):
    with pytest.raises(InputError, match=r"found none, an empty object"):
        import_evalplus(write(tmp_path, "eval_results.json", "{}"), model="m", compute=1.0)


def test_lm_eval_unknown_filter_suggests_one():
    with pytest.raises(InputError, match="Did you mean 'strict-match'"):
        import_lm_eval(GSM8K, model="m", compute=1.0, filter="strict")


def test_lm_eval_040_json_list_reads_like_json_lines(tmp_path):
    # lm-eval 0.4.0-0.4.2 wrote the samples as one indented JSON list in
    # <model_args>_<task>.jsonl; it was refused as "line 1: not a JSON object".
    docs = [json.loads(line) for line in GSM8K.read_text().splitlines() if line.strip()]
    strict = [
        {k: v for k, v in d.items() if k != "filter"} for d in docs if d["filter"] == "strict-match"
    ]
    old = write(tmp_path, "pretrained__org__m_gsm8k.jsonl", json.dumps(strict, indent=2))
    table = import_lm_eval(old, model="m", compute=1e20)
    new = import_lm_eval(GSM8K, model="m", compute=1e20, filter="strict-match")
    assert table[["n", "k"]].values.tolist() == new[["n", "k"]].values.tolist()
    assert table["problem"].tolist() == ["0", "1", "2"]  # no task in the old file names
    with pytest.raises(InputError, match=r"item \[1\]: no 'doc_id'"):
        import_lm_eval(
            write(tmp_path, "x.jsonl", '[{"doc_id": 0, "acc": 1}, {"acc": 1}]'), compute=1.0
        )
    twice = write(tmp_path, "y.jsonl", '[{"doc_id": 0, "acc": 1}, {"doc_id": 0, "acc": 1}]')
    with pytest.raises(InputError, match=r"item \[1\]: problem '0' again \(first on item \[0\]\)"):
        import_lm_eval(twice, compute=1.0)


@pytest.mark.parametrize("indent", [2, None])
def test_lm_eval_results_file_points_to_the_samples_beside_it(tmp_path, indent):
    # The aggregate results_<date>.json was refused as "line 1: not a JSON object".
    results = {"results": {"gsm8k": {"exact_match,strict-match": 0.1}}, "configs": {}}
    path = write(tmp_path, "results_2024-11-20T10-10-33.1.json", json.dumps(results, indent=indent))
    with pytest.raises(InputError, match="none is beside this file: run lm_eval again with"):
        import_lm_eval(path, compute=1.0)
    write(tmp_path, "samples_gsm8k_2024-11-20T10-10-33.1.jsonl", GSM8K.read_text())
    with pytest.raises(InputError) as err:
        import_lm_eval(path, compute=1.0)
    assert "aggregate results file" in str(err.value)
    assert "beside this file: samples_gsm8k_2024-11-20T10-10-33.1.jsonl" in str(err.value)


def test_lm_eval_pass_at_1_is_chosen_among_pass_at_k_metrics(tmp_path):
    # humaneval with `k: [1, 10]` logs metrics ["pass@1", "pass@10"]: was refused, though
    # pass@10 can never be a count.
    line = {"doc_id": 0, "filtered_resps": [["a"] * 10], "metrics": ["pass@1", "pass@10"]}
    path = write(tmp_path, "s.jsonl", json.dumps({**line, "pass@1": 0.3, "pass@10": 1.0}))
    assert import_lm_eval(path, compute=1.0)[["n", "k"]].values.tolist() == [[10, 3]]
    mc = {"doc_id": 0, "metrics": ["acc", "acc_norm"], "acc": 1.0, "acc_norm": 0.0}
    with pytest.raises(InputError, match="several metrics"):  # a real choice stays the user's
        import_lm_eval(write(tmp_path, "mc.jsonl", json.dumps(mc)), compute=1.0)


EVALPLUS_SAMPLES = '{"task_id": "HumanEval/0", "solution": "def f(): pass"}\n' * 2


@pytest.mark.parametrize(
    ("importer", "source", "fragment"),
    [
        # each was refused without saying which harness wrote the file
        (
            import_bigcode,
            EVALPLUS[0],
            "EvalPlus's eval_results.json: use `bayescale import evalplus`",
        ),
        (import_lm_eval, EVALPLUS[0], "use `bayescale import evalplus`"),
        (
            import_evalplus,
            BIGCODE[0],
            "code_eval per-sample results: use `bayescale import bigcode`",
        ),
        (import_lm_eval, BIGCODE[0], "use `bayescale import bigcode`"),
        (import_evalplus, LM_EVAL[0], "--log_samples output: use `bayescale import lm-eval`"),
        (import_bigcode, LM_EVAL[0], "use `bayescale import lm-eval`"),
        (import_evalplus, EVALPLUS_SAMPLES, "not yet evaluated: run `evalplus.evaluate"),
        (import_bigcode, '[["def f(): pass", "def f(): 1"]]', "generations_<task>.json"),
        (import_lm_eval, '[["def f(): pass", "def f(): 1"]]', "generations_<task>.json"),
        (import_bigcode, '{"results": {"a": {"acc,none": 0.5}}, "versions": {}}', "samples_<task>"),
    ],
)
def test_a_file_of_another_harness_is_named(tmp_path, importer, source, fragment):
    path = source if isinstance(source, Path) else write(tmp_path, "out.json", source)
    with pytest.raises(InputError) as err:
        importer(path, model="m", compute=1.0)
    assert fragment in str(err.value)


def test_lm_eval_filter_on_a_file_of_one_filter_says_to_import_it_alone(tmp_path):
    line = {"doc_id": 0, "filter": "create_test", "metrics": ["pass@1"], "pass@1": 1.0}
    path = write(tmp_path, "samples_humaneval_2024-11-20T10-10-33.1.jsonl", json.dumps(line))
    with pytest.raises(InputError, match="command of its own"):
        import_lm_eval(path, compute=1.0, filter="strict-match")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ({"0": [[0, {"passed": True}], [0, {"passed": False}]]}, ["'0'[1]", "completion_id 0"]),
        ({"0": [[0, {"result": "passed"}]]}, ["key '0'[0]", "'passed'"]),
        ({"0": []}, ["key '0'", "non-empty list"]),
        ({"humaneval": {"pass@1": 0.0}, "config": {}}, ["'humaneval.pass@1'", "(0, 1]"]),
        ({"a": {"pass@1": 0.2}, "b": {"pass@1": 0.3}}, ["2 tasks (a, b)", "--task"]),
        ({"conala": {"bleu": 0.2}, "config": {}}, ["key 'conala'", "no 'pass@1'", "'bleu'"]),
    ],
)
def test_bigcode_errors_name_the_key(tmp_path, content, fragments):
    path = write(tmp_path, "results.json", json.dumps(content))
    with pytest.raises(InputError) as err:
        import_bigcode(path, model="m", compute=1.0)
    for fragment in (str(path), *fragments):
        assert fragment in str(err.value)


def test_combining_checks_duplicates_and_kinds(tmp_path):
    with pytest.raises(InputError, match="model 'm' and problem 'HumanEval/0' appear twice"):
        import_files("evalplus", EVALPLUS[:2], [1.0, 1.0], ["m", "m"])
    gsm8k = import_lm_eval(GSM8K, model="m", compute=2.0, filter="strict-match")
    humaneval = import_lm_eval(LM_EVAL[0], model="m", compute=1.0)
    with pytest.raises(InputError, match="model 'm' has two compute values"):
        combine_tables([humaneval, gsm8k])
    aggregate = DATA / "bigcode" / "m1_evaluation_results.json"
    with pytest.raises(InputError, match="cannot share one table"):
        import_files("bigcode", [BIGCODE[0], aggregate], [1.0, 2.0], ["a", "b"])
    with pytest.raises(InputError, match="--metric does not apply to format 'evalplus'"):
        import_files("evalplus", EVALPLUS[:1], [1.0], metric="acc")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "add --compute"),
        ({"compute": [1.0], "params": [1.0]}, "not both"),
        ({"params": [1.0, 2.0]}, "add --tokens"),
        ({"compute": [1.0]}, "--compute is given 1 time(s) for 2 file(s)"),
        ({"params": [1.0, 2.0], "tokens": [1.0, -1.0]}, "--tokens value 2 is -1"),
    ],
)
def test_compute_options_are_checked(kwargs, fragment):
    with pytest.raises(InputError) as err:
        model_computes(2, **kwargs)
    assert fragment in str(err.value)


def test_write_table_refuses_to_overwrite_and_appends(tmp_path):
    out = tmp_path / "table.csv"
    first = import_files("evalplus", EVALPLUS[:1], [1e20], ["tiny"])
    write_table(first, out)
    with pytest.raises(InputError, match=r"already exists\. Add --append"):
        write_table(first, out)
    with pytest.raises(InputError, match="model 'tiny' and problem 'HumanEval/0' appear twice"):
        write_table(first, out, append=True)
    second = import_files("evalplus", EVALPLUS[1:2], [1e21], ["small"])
    assert len(write_table(second, out, append=True)) == 8
    assert pd.read_csv(out)["model"].unique().tolist() == ["tiny", "small"]
    with pytest.raises(InputError, match=r"name it \*\.csv"):
        write_table(first, tmp_path / "table.parquet", append=True)


def test_models_missing_problems_are_counted():
    table = import_files("evalplus", EVALPLUS[:2], [1.0, 2.0], ["a", "b"])
    assert missing_problems(table) == {}
    assert missing_problems(table.drop(index=[0, 1])) == {"a": 2}


# ----------------------------------------------------------------------------- command line


def test_cli_import_one_command_per_file_appends_to_one_table(tmp_path, capsys):
    table = tmp_path / "table.csv"
    for path, model, params in zip(
        EVALPLUS, ["tiny", "small", "medium"], [1e9, 3e9, 7e9], strict=True
    ):
        args = ["import", "evalplus", str(path), "--model", model, "--params", str(params)]
        code = main([*args, "--tokens", str(20 * params), "-o", str(table), "--append"])
        assert code == 0, capsys.readouterr().err
    pd.testing.assert_frame_equal(
        pd.read_csv(table, dtype={"model": object, "problem": object}),
        expected("evalplus_expected_plus.csv").assign(
            compute=[6 * p * 20 * p for p in [1e9, 3e9, 7e9] for _ in range(4)]
        ),
    )


@pytest.mark.parametrize(
    ("fmt", "files"), [("evalplus", EVALPLUS), ("lm-eval", LM_EVAL), ("bigcode", BIGCODE)]
)
def test_cli_import_then_pass_runs(tmp_path, mock_pymc_sample, capsys, fmt, files):
    table, doc = tmp_path / "table.csv", tmp_path / "p.json"
    models = [a for m in ("s", "m", "l") for a in ("--model", m)]
    computes = [a for c in ("1e20", "1e21", "1e22") for a in ("--compute", c)]
    argv = ["import", fmt, *map(str, files), *models, *computes, "-o", str(table), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    argv = ["pass", str(table), "--target-compute", "1e23", "--buckets", "2", "--json", str(doc)]
    assert main([*argv, *FAST]) == 0, capsys.readouterr().err
    result = json.loads(doc.read_text())
    assert result["kind"] == "pass" and len(result["targets"][0]["buckets"]) == 2


def test_cli_import_files_after_an_option_are_files(capsys):
    # "import bigcode --quiet F1 F2 F3 ..." was "unrecognized arguments: F1 F2 F3"
    files = [str(p) for p in BIGCODE]
    argv = ["import", "bigcode", "--model", "m1", "--model", "m2", "--model", "m3", files[0]]
    argv += ["--compute", "3e20", *files[1:], "--compute", "3e21", "--compute", "3e22"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(pd.io.common.StringIO(out), dtype={"model": object, "problem": object})
    pd.testing.assert_frame_equal(table, expected("bigcode_expected.csv"))
    with pytest.raises(SystemExit, match="2"):  # other commands' strays: argparse's error
        main(["loss", "runs.csv", "--target-compute", "1e23", "stray.csv"])
    assert "unrecognized arguments: stray.csv" in capsys.readouterr().err


def test_cli_import_several_files_to_stdout(capsys):
    files = [str(p) for p in BIGCODE]
    argv = ["import", "bigcode", *files, "--model", "m1", "--model", "m2", "--model", "m3"]
    assert main([*argv, "--compute", "3e20", "--compute", "3e21", "--compute", "3e22"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(pd.io.common.StringIO(out), dtype={"model": object, "problem": object})
    pd.testing.assert_frame_equal(table, expected("bigcode_expected.csv"))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["lm-eval", str(LM_EVAL[0]), "--compute", "1e20", "--tests", "base"], "--tests does not"),
        (["evalplus", str(EVALPLUS[0])], "add --compute"),
        (["lm-eval", str(GSM8K), "--compute", "1e20"], "choose one with --filter"),
        (["evalplus", "missing.json", "--compute", "1e20"], "missing.json: file not found"),
        (["evalplus", str(EVALPLUS[0]), "--compute", "1e20", "--append"], "--append needs -o"),
        (["evalplus", str(EVALPLUS[0]), "--compute", "1e20", "--model", " "], "value 1 is empty"),
        (["evalplus", str(DATA), "--compute", "1e20"], "is a folder, not a file"),
    ],
)
def test_cli_import_errors_exit_2(capsys, argv, fragment):
    assert main(["import", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_cli_bigcode_metric_files_give_an_aggregate_table_pass_fits(
    tmp_path, mock_pymc_sample, capsys
):
    template = json.loads((DATA / "bigcode" / "m1_evaluation_results.json").read_text())
    files = []
    for i, rate in enumerate([0.1, 0.2, 0.4]):
        content = {
            "humaneval": {"pass@1": rate},
            "config": {**template["config"], "model": f"m{i}"},
        }
        files.append(write(tmp_path, f"m{i}.json", json.dumps(content)))
    table, doc = tmp_path / "agg.csv", tmp_path / "p.json"
    computes = ["--compute", "1e20", "--compute", "1e21", "--compute", "1e22"]
    assert main(["import", "bigcode", *map(str, files), *computes, "-o", str(table)]) == 0
    assert pd.read_csv(table).columns.tolist() == ["model", "compute", "pass_rate"]
    assert pd.read_csv(table)["model"].tolist() == ["m0", "m1", "m2"]
    argv = ["pass", str(table), "--target-compute", "1e23", "--json", str(doc), *FAST]
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads(doc.read_text())["kind"] == "pass"


def test_cli_import_from_a_mapping_table(tmp_path, capsys):
    out = tmp_path / "table.csv"
    argv = ["import", "evalplus", "--models", str(DATA / "evalplus" / "models.csv"), "-o", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    table = pd.read_csv(out, dtype={"model": object, "problem": object})
    pd.testing.assert_frame_equal(table, expected("evalplus_expected_plus.csv"))


def test_cli_import_dash_o_dash_is_standard_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    models = ["--models", str(DATA / "evalplus" / "models.csv")]
    assert main(["import", "evalplus", *models, "-o", "-", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert not (tmp_path / "-").exists()
    assert printed == expected("evalplus_expected_plus.csv").to_csv(index=False)
    assert main(["import", "evalplus", *models, "-o", "./-", "--quiet"]) == 2  # a file: no
    assert "name it *.csv" in capsys.readouterr().err
    assert main(["import", "evalplus", *models, "-o", "-", "--append", "--quiet"]) == 2
    assert "--append needs -o TABLE.csv" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("path,model,compute\na.json,a,1e20\n", "missing column 'file'"),
        ("file,model,compute,params,tokens\na.json,a,1e20,1e9,1e10\n", "row 1: give compute or"),
        ("file,model,params\na.json,a,1e9\n", "row 1: no training compute"),
        ("file,model,compute\na.json,a,lots\n", "row 1, column 'compute': 'lots' is not a number"),
        ("file,model,compute\na.json,a,1e20\n,b,1e21\n", "row 2, column 'file'"),
        # a file named in the table that is not there: which row (was "b.json: file not found")
        (
            "file,model,compute\na.json,a,1e20\nb.json,b,1e21\n",
            "row 2, column 'file': b.json not found at ",
        ),
    ],
)
def test_mapping_errors_name_the_row(tmp_path, text, fragment):
    write(tmp_path, "a.json", "{}")
    path = write(tmp_path, "models.csv", text)
    with pytest.raises(InputError) as err:
        read_model_map(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_mapping_columns_are_read_in_any_case():
    # A spreadsheet's 'File, Model, Params, Tokens' was refused ("missing column 'file'"), and
    # 'Params'/'Tokens' beside 'file' read as "no training compute".
    rows = pd.DataFrame({"File": ["a.json"], "Model": ["a"], "Params": [1e9], " Tokens": [2e10]})
    files, models, computes = read_model_map(rows)
    assert (files, models, computes) == ([Path("a.json")], ["a"], [1.2e20])


def test_one_compute_for_the_task_files_of_one_model(tmp_path, capsys):
    # lm-eval writes one samples file per (sub)task: MMLU's 57 files of one model needed
    # --compute 57 times ("--compute is given 1 time(s) for 3 file(s)").
    folder = tmp_path / "org__m7b"
    folder.mkdir()
    for task in ("mmlu_anatomy", "mmlu_astronomy", "arc_easy"):
        line = {"doc_id": 0, "metrics": ["acc"], "filtered_resps": [[-1.0, True]], "acc": 1.0}
        write(folder, f"samples_{task}_2024-11-20T10-10-33.1.jsonl", json.dumps(line))
    files = sorted(str(f) for f in folder.iterdir())
    out = tmp_path / "t.csv"
    assert (
        main(["import", "lm-eval", *files, "--params", "7e9", "--tokens", "1e12", "-o", str(out)])
        == 0
    )
    table = pd.read_csv(out)
    assert set(table["model"]) == {"org__m7b"} and set(table["compute"]) == {4.2e22}
    assert table["problem"].tolist() == ["arc_easy/0", "mmlu_anatomy/0", "mmlu_astronomy/0"]
    # files of several models with one compute are refused; --model once makes them one model
    argv = ["import", "lm-eval", *map(str, LM_EVAL[:2]), "--compute", "1e21"]
    assert main(argv) == 2
    assert "one training compute was given for 2 files of 2 models" in capsys.readouterr().err
    assert main([*argv[:4], "--compute", "1e21", "--model", "m"]) == 2  # same problems twice
    assert "appear twice" in capsys.readouterr().err


def test_mapping_excludes_per_file_options(capsys):
    mapping = str(DATA / "evalplus" / "models.csv")
    # FILE after --models was argparse's top-level "unrecognized arguments: FILE": the same
    # advice now, wherever the FILE stands
    for argv in (
        ["import", "evalplus", str(EVALPLUS[0]), "--models", mapping],
        ["import", "evalplus", "--models", mapping, str(EVALPLUS[0])],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "unrecognized arguments" not in err
        assert "--models replaces the FILE arguments" in err and "eval_results.json" in err
    assert main(["import", "evalplus"]) == 2
    assert "or give --models CSV" in capsys.readouterr().err


def test_appending_finds_duplicates_among_numeric_labels(tmp_path):
    out = tmp_path / "table.csv"
    first = import_files("bigcode", BIGCODE[:1], [1e20], ["7"])
    write_table(first, out)
    with pytest.raises(InputError, match="model '7' and problem '0' appear twice"):
        write_table(first, out, append=True)
    both = write_table(import_files("bigcode", BIGCODE[1:2], [1e21], ["8"]), out, append=True)
    assert both["problem"].tolist() == ["0", "1", "2", "3"] * 2


def test_lm_eval_pass_fraction_of_three_samples_rounds_to_counts(tmp_path):
    lines = [
        {"doc_id": i, "filtered_resps": [["a", "b", "c"]], "pass@1": value}
        for i, value in enumerate([2 / 3, 1 / 3, 0.0, 1.0])
    ]
    path = write(tmp_path, "samples.jsonl", "\n".join(json.dumps(x) for x in lines))
    table = import_lm_eval(path, model="m", compute=1.0)
    assert table["n"].tolist() == [3] * 4 and table["k"].tolist() == [2, 1, 0, 3]


def test_evalplus_summary_is_checked_against_the_counts(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="bayescale"):
        for path in EVALPLUS[1:]:
            for tests in ("base", "plus"):
                import_evalplus(path, model="m", compute=1.0, tests=tests)
    assert caplog.records == []  # the fixtures' own pass_at_k agree with their statuses
    data = json.loads(EVALPLUS[1].read_text())
    data["eval"]["HumanEval/0"][0]["plus_status"] = "fail"
    tampered = write(tmp_path, "eval_results.json", json.dumps(data))
    with caplog.at_level("WARNING", logger="bayescale"):
        import_evalplus(tampered, model="m", compute=1.0)
    assert "pass_at_k['plus']['pass@1'] is 0.3125 but" in caplog.text


def test_harness_files_saved_with_a_byte_order_mark_read_the_same(tmp_path):
    # JSON written on Windows with a BOM: "not valid JSON (Unexpected UTF-8 BOM)"; a JSONL one
    # failed on its first line
    def with_bom(path: Path, folder: str) -> Path:
        copy = tmp_path / folder / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        return copy

    evalplus = [with_bom(p, f"evalplus/{p.parent.name}") for p in EVALPLUS]
    computes = model_computes(3, params=[1e9, 3e9, 7e9], tokens=[2e10, 6e10, 1.4e11])
    check_table(import_files("evalplus", evalplus, computes), "evalplus_expected_plus.csv")
    lm_eval = [with_bom(p, f"lm_eval/{p.parent.name}") for p in LM_EVAL]
    check_table(import_files("lm-eval", lm_eval, [1e20, 1e21, 1e22]), "lm_eval_expected.csv")
    bigcode = [with_bom(p, "bigcode") for p in BIGCODE]
    table = import_files("bigcode", bigcode, [3e20, 3e21, 3e22], ["m1", "m2", "m3"])
    check_table(table, "bigcode_expected.csv")


def test_append_starts_a_table_that_holds_only_its_header(tmp_path):
    # a header typed by hand was refused: "the table has no rows. Expected one row per
    # training run", though --append starts a table
    out = tmp_path / "table.csv"
    out.write_text("model,compute,problem,n,k\n\n")
    first = import_files("evalplus", EVALPLUS[:1], [1e20], ["tiny"])
    assert len(write_table(first, out, append=True)) == len(first)
    assert pd.read_csv(out)["model"].unique().tolist() == ["tiny"]
    other = tmp_path / "other.csv"
    other.write_text("name,compute,loss\n")
    with pytest.raises(InputError, match="differ from the imported"):
        write_table(first, other, append=True)
