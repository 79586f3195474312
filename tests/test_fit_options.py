"""fit's options are checked in one place, before any data is read, with the same words from
Python and from the CLI."""
from __future__ import annotations

import subprocess
import sys

import pytest

import mlexpert
from mlexpert._fit import FitOptions
from mlexpert.errors import ConfigError

BAD = [
    ({"time_limit": 0}, "time_limit must be a positive number of seconds, but got 0."),
    ({"time_limit": float("nan")}, "time_limit must be a positive number of seconds"),
    ({"presets": "quick"}, "presets must be one of fast, balanced, best, but got 'quick'."),
    ({"budget": -1}, "budget must be a number of tuning trials (0 or more), or None"),
    ({"infer_limit": 0}, "infer_limit must be a positive number of seconds per row, or None"),
    ({"size_limit": -2.0}, "size_limit must be a positive number of megabytes, or None"),
    ({"task": "ranking"}, "task must be one of binary, multiclass, regression"),
    ({"seed": 1.5}, "seed must be an integer, but got 1.5."),
    ({"ignore_columns": "a"}, "ignore_columns must be a list of column names, but got 'a'."),
    ({"executor": "spark://x"}, "executor must be an Executor object"),
    ({"data_on_cluster": "yes"}, "data_on_cluster must be True, False or None (auto)"),
    ({"optimize_threshold": "auc"}, "optimize_threshold must be one of"),
    ({"optimize_threshold": "cost"}, "cost_matrix must be given with optimize_threshold='cost'"),
]


@pytest.mark.parametrize("options, message", BAD, ids=[next(iter(o)) + "-" + str(i)
                                                        for i, (o, _) in enumerate(BAD)])
def test_a_bad_option_is_refused_before_the_data_is_read(options, message):
    with pytest.raises(ConfigError) as err:
        mlexpert.fit("no-such-file.csv", target="y", **options)  # the file is never opened
    assert message in str(err.value)


def test_an_unknown_option_lists_the_known_ones():
    with pytest.raises(ConfigError, match="fit has no option 'time_limt'; the options are "
                                          "time_limit, seed"):
        FitOptions.of({"time_limt": 10})


def test_a_cost_matrix_alone_means_the_cost_objective():
    opts = FitOptions(cost_matrix=[[0, 1], [5, 0]])
    assert opts.objective == "cost" and opts.costs == [[0.0, 1.0], [5.0, 0.0]]
    assert opts.record()["cost_matrix"] == [[0, 1], [5, 0]]


@pytest.mark.parametrize("flag, value, message", [
    ("--time-limit", "0", "time_limit must be a positive number of seconds, but got 0.0."),
    ("--budget", "-1", "budget must be a number of tuning trials (0 or more), or None, but got -1."),
])
def test_the_cli_refuses_with_the_same_words_and_exit_code_1(tmp_path, flag, value, message):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n")
    done = subprocess.run([sys.executable, "-m", "mlexpert", "fit", str(data), "-t", "y", flag,
                           value, "--out", str(tmp_path / "m"), "--no-track", "--no-card"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert message in " ".join(done.stderr.split())
