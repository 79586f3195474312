"""Training logs read from every format and naming habit, NaN kept apart from "not logged", and
one-line errors naming the file and what it held."""
import json

import numpy as np
import pytest

from mlexpert.diagnosis import diagnose, read_history, recognise
from mlexpert.errors import DataError


@pytest.mark.parametrize("names, expected", [
    (["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr"],  # Keras
     {"train_loss": "loss", "val_loss": "val_loss", "train_metric": "accuracy",
      "val_metric": "val_accuracy", "lr": "lr"}),
    (["epoch", "step", "train_loss_step", "train_loss_epoch", "val_loss", "val_acc",  # Lightning
      "lr-Adam", "grad_2.0_norm_total"],
     {"train_loss": "train_loss_epoch", "val_loss": "val_loss", "val_metric": "val_acc",
      "lr": "lr-Adam", "grad_norm": "grad_2.0_norm_total"}),
    (["step", "train/loss", "eval/loss", "learning_rate", "grad_norm"],  # Hugging Face
     {"train_loss": "train/loss", "val_loss": "eval/loss", "lr": "learning_rate",
      "grad_norm": "grad_norm"}),
    (["iteration", "trainLoss", "validationLoss", "valid_auc"],
     {"train_loss": "trainLoss", "val_loss": "validationLoss", "val_metric": "valid_auc"}),
], ids=["keras", "lightning", "huggingface", "camel"])
def test_common_spellings_are_recognised(names, expected):
    assert recognise(names) == expected


@pytest.mark.parametrize("fmt", ["csv", "json_records", "json_lists", "jsonl"])
def test_every_file_format_gives_the_same_diagnosis(histories, priors, tmp_path, fmt):
    h = histories["memorise"]
    path = tmp_path / f"log.{fmt.split('_')[0]}"
    if fmt == "csv":
        h.to_csv(path, index=False)
    elif fmt == "json_records":
        path.write_text(json.dumps(h.to_dict("records")))
    elif fmt == "json_lists":  # Keras: json.dump(history.history, f)
        path.write_text(json.dumps({"history": h.drop(columns="epoch").to_dict("list")}))
    else:
        path.write_text("\n".join(json.dumps(r) for r in h.to_dict("records")))
    from_file = diagnose(str(path), priors=priors["memorise"])
    direct = diagnose(h, priors=priors["memorise"])
    assert from_file.checks == direct.checks == ["overfitting"]
    assert from_file.findings[0].evidence == direct.findings[0].evidence
    assert from_file.source == str(path)


def test_lightning_step_rows_are_averaged_into_epochs(histories, priors, tmp_path):
    """A Lightning CSVLogger file: step rows with ``train_loss_step``, then one row per epoch
    end with ``train_loss_epoch`` and ``val_loss`` (other cells empty)."""
    h = histories["memorise"]
    lines = ["epoch,step,train_loss_step,train_loss_epoch,val_loss,val_acc"]
    for r in h.itertuples():
        for k in range(3):
            lines.append(f"{r.epoch},{r.epoch * 3 + k},{r.loss * (1.1 - 0.1 * k)},,,")
        lines.append(f"{r.epoch},{r.epoch * 3 + 2},,{r.loss},{r.val_loss},{r.val_accuracy}")
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join(lines) + "\n")
    history = read_history(str(path))
    assert history.index == "epoch" and history.get("train_loss").name == "train_loss_epoch"
    assert np.allclose(history.get("val_loss").y, h["val_loss"])
    report = diagnose(str(path), priors=priors["memorise"])
    assert report.checks == ["overfitting"]
    assert report.findings[0].evidence["best_epoch"] == diagnose(
        h, priors=priors["memorise"]).findings[0].evidence["best_epoch"]


def test_nan_is_a_value_but_an_empty_cell_is_not_logged(histories, tmp_path):
    h = histories["healthy"].copy()
    h["val_loss"] = h["val_loss"].astype(object)
    h.loc[h.index % 2 == 1, "val_loss"] = None  # validated every other epoch
    path = tmp_path / "sparse.csv"
    h.to_csv(path, index=False)
    history = read_history(str(path))
    assert len(history.get("val_loss").x) == 20 and np.isfinite(history.get("val_loss").y).all()
    assert "diverging" not in diagnose(str(path)).checks
    text = path.read_text().splitlines()
    text[11] = text[11].replace(text[11].split(",")[1], "nan", 1)  # the loss of epoch 10 is NaN
    path.write_text("\n".join(text) + "\n")
    f = diagnose(str(path)).findings[0]
    assert f.check == "diverging" and f.evidence["first_non_finite"] == 10


@pytest.mark.parametrize("content, needle", [
    ("epoch,accuracy,val_accuracy\n0,0.5,0.5\n1,0.6,0.55\n", "found columns 'epoch', 'accuracy', 'val_accuracy'"),
    ("", "the file is empty"),
    ("epoch,loss\n0,0.5,7\n", "line 2 has 3 fields"),
], ids=["no-loss", "empty", "ragged"])
def test_unusable_logs_fail_with_one_line_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "log.csv"
    path.write_text(content)
    with pytest.raises(DataError) as e:
        diagnose(str(path))
    assert needle in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_bad_json_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "log.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="invalid JSON at line 1"):
        diagnose(str(bad))
    with pytest.raises(DataError, match="no such file"):
        diagnose(str(tmp_path / "missing.csv"))
