"""N-gram models: hand-computed probabilities, normalisation, NLTK, ARPA/KenLM, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer
from rnnkit.ngram import NGramLM, from_text
from rnnkit.ngram.arpa import ArpaModel, escape, token_names, unescape, write_arpa
from rnnkit.ngram.estimators import modified_discounts

TOY = "abcab"  # unigrams a2 b2 c1; bigrams ab2 bc1 ca1; vocabulary <unk> a b c


def toy(smoothing: str, order: int = 2, **kwargs) -> tuple[NGramLM, CharTokenizer]:
    tokenizer = CharTokenizer.fit(TOY)
    return NGramLM(order, smoothing, **kwargs).fit(from_text(TOY, tokenizer, "stream"), tokenizer.vocab_size), tokenizer


def p(model: NGramLM, tokenizer: CharTokenizer, context: str, token: str) -> float:
    distribution = model.distribution(tokenizer.encode(context))
    return float(distribution[0 if token == "<unk>" else tokenizer.encode(token)[0]])


def test_maximum_likelihood_by_hand():
    model, tok = toy("mle")
    assert p(model, tok, "a", "b") == 1.0  # c(ab)/c(a.) = 2/2
    assert p(model, tok, "b", "a") == 0.0
    assert p(model, tok, "", "a") == pytest.approx(2 / 5)


def test_add_delta_by_hand():
    model, tok = toy("add-delta")  # Laplace over V = 4
    assert p(model, tok, "a", "b") == pytest.approx(3 / 6)
    assert p(model, tok, "b", "a") == pytest.approx(1 / 5)
    assert p(model, tok, "z", "a") == pytest.approx(1 / 4)  # a context never seen: uniform
    lidstone, tok = toy("add-delta", delta=0.5)
    assert p(lidstone, tok, "a", "b") == pytest.approx(2.5 / 4)


def test_naive_backoff_by_hand_and_it_is_not_a_distribution():
    model, tok = toy("naive")
    assert p(model, tok, "a", "b") == 1.0  # seen: the bigram MLE
    assert p(model, tok, "b", "a") == pytest.approx(3 / 9)  # unseen: the add-one unigram
    assert p(model, tok, "b", "<unk>") == pytest.approx(1 / 9)
    assert model.distribution(tok.encode("a")).sum() == pytest.approx(1 + 3 / 9 + 2 / 9 + 1 / 9)  # b, then a, c, <unk>


def test_absolute_discount_backoff_by_hand():
    # D1 = n1/(n1+2 n2) = 1/5 over unigram counts {2, 2, 1}; D2 = 2/4 over bigram counts {2, 1, 1}
    model, tok = toy("backoff")
    assert p(model, tok, "", "a") == pytest.approx((2 - 0.2) / 5)
    assert p(model, tok, "", "<unk>") == pytest.approx((0.2 * 3 / 5) / (1 - 3 / 4) / 4)
    assert p(model, tok, "a", "b") == pytest.approx((2 - 0.5) / 2)
    alpha_a = (0.5 * 1 / 2) / (1 - 0.36)  # the mass left, over what the unseen tokens had below
    assert p(model, tok, "a", "a") == pytest.approx(alpha_a * 0.36)
    alpha_b = (0.5 * 1 / 1) / (1 - 0.16)
    assert p(model, tok, "b", "a") == pytest.approx(alpha_b * 0.36)


def test_kneser_ney_by_hand():
    # Too few counts for three discounts: every D is 0.5. Unigrams use continuation counts:
    # a follows c, b follows a, c follows b -> each 1 of 3, interpolated with uniform over 4.
    model, tok = toy("kn")
    unigram = (1 - 0.5) / 3 + (0.5 * 3 / 3) / 4
    assert p(model, tok, "", "a") == pytest.approx(unigram)
    assert p(model, tok, "", "<unk>") == pytest.approx(0.5 / 4)
    assert p(model, tok, "a", "b") == pytest.approx((2 - 0.5) / 2 + (0.5 * 1 / 2) * unigram)
    assert p(model, tok, "a", "c") == pytest.approx((0.5 * 1 / 2) * unigram)


def test_modified_discounts_follow_chen_and_goodman():
    d = modified_discounts(np.array([1, 1, 1, 1, 2, 2, 3, 4]))  # t1..t4 = 4, 2, 1, 1; Y = 1/2
    assert d == pytest.approx([0.0, 1 - 2 * 0.5 * 2 / 4, 2 - 3 * 0.5 * 1 / 2, 3 - 4 * 0.5 * 1 / 1])


def test_kneser_ney_counts_sentence_starts_raw():
    tokenizer = CharTokenizer.fit("ab\nab\nb\n")
    model = NGramLM(3, "kn", unit="line").fit(from_text("ab\nab\nb\n", tokenizer, "line"), tokenizer.vocab_size)
    counts, size = model.counts, model.vocab_size
    bigram = counts.tables[0].find(np.array([model.bos]))[0] * size + tokenizer.encode("a")[0]
    entry = counts.tables[1].find(np.array([bigram]))[0]
    assert model.estimator.adjusted[1][entry] == 2  # "<s> a" twice: nothing can precede <s>
    b = counts.tables[0].find(tokenizer.encode("b"))[0]
    assert model.estimator.adjusted[0][b] == 2  # "b" follows "a" and "<s>"


def every_context(model: NGramLM) -> list[np.ndarray]:
    """The token ids of every context the model has counts for (the empty one too)."""
    from rnnkit.ngram.arpa import ngram_tokens

    contexts = [np.zeros(0, dtype=np.int64)]
    for k in range(1, model.order):
        contexts += list(ngram_tokens(model.counts, k))
    return contexts


@pytest.mark.parametrize("unit", ["stream", "line"])
@pytest.mark.parametrize("smoothing", ["mle", "add-delta", "backoff", "kn"])
def test_normalised_estimators_sum_to_one_in_every_context(shakespeare_slice, smoothing, unit):
    text = shakespeare_slice.read_text(encoding="utf-8")[:4000]
    tokenizer = CharTokenizer.fit(text)
    for order in (1, 3):
        model = NGramLM(order, smoothing, delta=0.3, unit=unit).fit(from_text(text, tokenizer, unit),
                                                                   tokenizer.vocab_size)
        sums = np.array([model.distribution(c).sum() for c in every_context(model)])
        if smoothing == "mle":  # defined only where the context was followed by something
            sums = sums[sums > 0]
        assert np.abs(sums - 1).max() < 1e-9, (order, sums.min(), sums.max())


def test_naive_backoff_overcounts_in_most_contexts(shakespeare_slice):
    text = shakespeare_slice.read_text(encoding="utf-8")[:4000]
    tokenizer = CharTokenizer.fit(text)
    model = NGramLM(3, "naive").fit(from_text(text, tokenizer, "stream"), tokenizer.vocab_size)
    sums = np.array([model.distribution(c).sum() for c in every_context(model)[1:]])
    assert (sums > 1 + 1e-6).mean() > 0.5 and sums.max() > 1.5


def nltk_fitted(cls, text: str, order: int, **kwargs):
    from nltk.lm.vocabulary import Vocabulary
    from nltk.util import everygrams

    model = cls(order=order, vocabulary=Vocabulary(list(text), unk_cutoff=1), **kwargs)
    model.fit([list(everygrams(list(text), max_len=order))])
    return model


NLTK_TEXT = "abracadabra cadabra abra barbara abracadabra dabba"
NLTK_CONTEXTS = ["ab", "ra", "ca", "zz", "a", "", "da", " b"]


@pytest.mark.parametrize(("smoothing", "nltk_class", "kwargs"), [
    ("mle", "MLE", {}), ("add-delta", "Lidstone", {"gamma": 0.3})])
def test_agrees_with_nltk(smoothing, nltk_class, kwargs):
    lm = pytest.importorskip("nltk.lm")
    tokenizer = CharTokenizer.fit(NLTK_TEXT)
    ours = NGramLM(3, smoothing, delta=0.3).fit(from_text(NLTK_TEXT, tokenizer, "stream"), tokenizer.vocab_size)
    theirs = nltk_fitted(getattr(lm, nltk_class), NLTK_TEXT, 3, **kwargs)
    names = ["<UNK>", *tokenizer.chars]
    for context in NLTK_CONTEXTS:
        mine = ours.distribution(tokenizer.encode(context))
        nltk_scores = [theirs.score(name, list(context) or None) for name in names]
        np.testing.assert_allclose(mine, nltk_scores, rtol=0, atol=1e-12)


def test_kneser_ney_agrees_with_nltk_above_the_unigram():
    """NLTK's KneserNeyInterpolated and ours share every higher order exactly; they differ
    only at the bottom: NLTK's unigram is the bare continuation-count ratio a(w)/A, which
    gives an unseen token probability 0, while ours (as KenLM's) discounts it and
    interpolates with the uniform distribution. With NLTK's recursion run down to our
    unigram, the two agree to rounding."""
    lm = pytest.importorskip("nltk.lm")
    tokenizer = CharTokenizer.fit(NLTK_TEXT)
    ours = NGramLM(3, "kn", discount=0.1).fit(from_text(NLTK_TEXT, tokenizer, "stream"), tokenizer.vocab_size)
    theirs = nltk_fitted(lm.KneserNeyInterpolated, NLTK_TEXT, 3, discount=0.1)
    names = ["<UNK>", *tokenizer.chars]
    unigram = ours.distribution(np.zeros(0, dtype=np.int64))

    def nltk_down_to_our_unigram(word: str, context: tuple) -> float:
        if not context:
            return unigram[names.index(word)]
        if not theirs.counts[context]:
            return nltk_down_to_our_unigram(word, context[1:])
        alpha, gamma = theirs.estimator.alpha_gamma(word, context)
        return alpha + gamma * nltk_down_to_our_unigram(word, context[1:])

    for context in NLTK_CONTEXTS:
        known = tuple(names[i] for i in tokenizer.encode(context))
        mine = ours.distribution(tokenizer.encode(context))
        np.testing.assert_allclose(mine, [nltk_down_to_our_unigram(n, known) for n in names], atol=1e-12)
    nltk_unigram = np.array([theirs.estimator.unigram_score(n) for n in names])
    seen = nltk_unigram > 0
    assert np.all(unigram[seen] < nltk_unigram[seen] + 1e-12) and np.all(unigram[~seen] > 0)


def test_escaping_round_trips():
    for name in ["a", " ", "\t", "\\", "\n", "\u3000", "<s>", "x y", "\\s"]:
        assert " " not in escape(name) and unescape(escape(name)) == name


@pytest.mark.parametrize("unit", ["stream", "line"])
@pytest.mark.parametrize("smoothing", ["kn", "backoff", "naive"])
def test_arpa_round_trip_and_kenlm(tmp_path, shakespeare_slice, smoothing, unit):
    text = shakespeare_slice.read_text(encoding="utf-8")
    train, test = text[:40_000], text[40_000:44_000]
    tokenizer = WordTokenizer.fit(train, 500) if unit == "line" else CharTokenizer.fit(train)
    model = NGramLM(4, smoothing, unit=unit).fit(from_text(train, tokenizer, unit), tokenizer.vocab_size)
    names = token_names(tokenizer, unit)
    path = tmp_path / "model.arpa"
    write_arpa(model, path, names)
    stream = from_text(test, tokenizer, unit)
    ours = np.log10(model.token_probs(stream))
    arpa = ArpaModel.read(path)
    np.testing.assert_allclose(arpa.log10_probs(stream, arpa.ids_for(names)), ours, atol=2e-6)
    kenlm = pytest.importorskip("kenlm")
    theirs = []
    if unit == "stream":
        sentence = " ".join(escape(names[i]) if i else "<unk>" for i in stream.ids)
        theirs = [s[0] for s in kenlm.Model(str(path)).full_scores(sentence, bos=False, eos=False)][1:]
    else:
        reader, words = kenlm.Model(str(path)), []
        for token in stream.ids:
            if token == model.bos:
                words = []
            elif token == model.eos:
                theirs += [s[0] for s in reader.full_scores(" ".join(words), bos=True, eos=True)]
            else:
                words.append(escape(names[token]) if token else "<unk>")
    np.testing.assert_allclose(theirs, ours, atol=2e-6)


def test_arpa_refuses_models_without_a_backoff_form(tmp_path):
    model, tok = toy("add-delta")
    with pytest.raises(ValueError, match="backoff form"):
        write_arpa(model, tmp_path / "m.arpa", token_names(tok, "stream"))


def test_binary_round_trip_gives_the_same_probabilities(tmp_path, shakespeare_slice):
    text = shakespeare_slice.read_text(encoding="utf-8")[:20_000]
    tokenizer = CharTokenizer.fit(text)
    model = NGramLM(5, "kn", unit="line").fit(from_text(text, tokenizer, "line"), tokenizer.vocab_size)
    model.save(tmp_path / "m.ngram")
    loaded = NGramLM.load(tmp_path / "m.ngram")
    stream = from_text(text[-3000:], tokenizer, "line")
    np.testing.assert_array_equal(loaded.token_probs(stream), model.token_probs(stream))
    (tmp_path / "bad.ngram").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"bad\.ngram"):
        NGramLM.load(tmp_path / "bad.ngram")


def test_scores_count_what_rnnkit_eval_counts():
    text = "hello world\nhello there\n"
    tokenizer = CharTokenizer.fit(text)
    model = NGramLM(3, "kn").fit(from_text(text, tokenizer, "stream"), tokenizer.vocab_size)
    result = model.score(from_text(text, tokenizer, "stream"))
    assert result["tokens"] == len(text) - 1 == result["characters"]  # every character after the first
    lines = NGramLM(3, "kn", unit="line").fit(from_text(text, tokenizer, "line"), tokenizer.vocab_size)
    result = lines.score(from_text(text, tokenizer, "line"))
    assert result["tokens"] == len(text) == result["characters"]  # each line's characters and its </s>
    probs = model.token_probs(from_text(text, tokenizer, "stream"))
    assert result is not None and -np.log(probs).sum() == pytest.approx(
        model.score(from_text(text, tokenizer, "stream"))["nats_per_token"] * (len(text) - 1))


def test_sampling_is_seeded_and_greedy_follows_the_counts():
    text = "the cat sat on the mat\n" * 20
    tokenizer = CharTokenizer.fit(text)
    model = NGramLM(6, "kn", unit="line").fit(from_text(text, tokenizer, "line"), tokenizer.vocab_size)
    history = np.array([model.bos])
    greedy = list(model.sample(history, 23, temperature=0))
    assert tokenizer.decode(greedy[:22]) == "the cat sat on the mat" and greedy[22] == model.eos
    draws = [list(model.sample(history, 40, 1.0, rng=np.random.default_rng(3))) for _ in range(2)]
    assert draws[0] == draws[1]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="order"):
        NGramLM(0)
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM(3, "good-turing")
    tokenizer = CharTokenizer.fit("abc")
    with pytest.raises(ValueError, match="no tokens"):
        NGramLM(3).fit(from_text("", tokenizer, "stream"), tokenizer.vocab_size)


@pytest.fixture(scope="module")
def ngram_run(tmp_path_factory, shakespeare_slice):
    run = tmp_path_factory.mktemp("ngram") / "run"
    assert main(["train", "ngram", str(shakespeare_slice), "--order", "4", "--out", str(run),
                 "--arpa"]) == 0
    return run


def test_cli_trains_evaluates_and_samples_an_ngram_run(ngram_run, shakespeare_slice, capsys):
    config = json.loads((ngram_run / "config.json").read_text())
    assert config["task"] == "ngram" and (ngram_run / "model.arpa").exists()
    text = shakespeare_slice.read_text(encoding="utf-8")
    validation = text[int(round(len(text) * 0.9)):]
    held_out = ngram_run.parent / "validation.txt"
    held_out.write_text(validation, encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", str(ngram_run), str(held_out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bits_per_char"] == pytest.approx(config["validation"]["bits_per_char"], rel=1e-12)
    assert result["tokens"] == len(validation) - 1
    assert main(["sample", str(ngram_run), "--prime", "ROMEO:", "--length", "50", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert main(["sample", str(ngram_run), "--prime", "ROMEO:", "--length", "50", "--seed", "1"]) == 0
    assert first == capsys.readouterr().out and first.startswith("ROMEO:") and len(first) > 50


def test_cli_ngram_bad_input_exits_2(tmp_path, ngram_run, shakespeare_slice, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["train", "ngram", str(empty), "--out", str(tmp_path / "a")]) == 2
    assert main(["train", "ngram", str(shakespeare_slice), "--order", "0",
                 "--out", str(tmp_path / "b")]) == 2
    assert main(["train", "ngram", str(shakespeare_slice), "--smoothing", "mle", "--arpa",
                 "--out", str(tmp_path / "c")]) == 2
    unknown = tmp_path / "greek.txt"
    unknown.write_text("αβγδεζηθ", encoding="utf-8")
    assert main(["eval", str(ngram_run), str(unknown)]) == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (broken / name).write_bytes((ngram_run / name).read_bytes())
    (broken / "model.ngram").write_bytes(b"not safetensors")
    assert main(["eval", str(broken), str(unknown)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("rnnkit: error:") for line in errors)
    assert "model.ngram" in errors[-1]


def test_one_sort_and_per_order_counting_build_the_same_tables(shakespeare_slice, monkeypatch):
    from rnnkit.ngram import counts as counts_module

    text = shakespeare_slice.read_text(encoding="utf-8")[:20_000]
    tokenizer = CharTokenizer.fit(text)
    for unit in ("stream", "line"):
        stream = from_text(text, tokenizer, unit)
        size = tokenizer.vocab_size + (2 if unit == "line" else 0)
        fast = counts_module.NGramCounts.fit(stream.ids, 6, size, stream.reach, stream.predicted)
        monkeypatch.setattr(counts_module, "fits_one_key", lambda *_: False)
        general = counts_module.NGramCounts.fit(stream.ids, 6, size, stream.reach, stream.predicted)
        monkeypatch.undo()
        for a, b in zip(fast.tables, general.tables, strict=True):
            for name in ("keys", "counts", "suffix"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_the_ngram_package_needs_no_torch():
    import subprocess
    import sys

    code = "import sys, rnnkit.ngram, rnnkit.ngram.arpa; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("unit", ["stream", "line"])
def test_scoring_in_chunks_changes_nothing(shakespeare_slice, monkeypatch, unit):
    from rnnkit.ngram import model as model_module

    text = shakespeare_slice.read_text(encoding="utf-8")[:10_000]
    tokenizer = CharTokenizer.fit(text)
    model = NGramLM(5, "kn", unit=unit).fit(from_text(text, tokenizer, unit), tokenizer.vocab_size)
    stream = from_text(text[-2_000:], tokenizer, unit)
    whole = model.token_probs(stream)
    monkeypatch.setattr(model_module, "CHUNK", 7)
    np.testing.assert_array_equal(model.token_probs(stream), whole)
