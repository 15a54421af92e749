import hashlib
import shutil

import numpy as np
import pytest

from unlearnkit import data


def test_tdec_concatenation_reproduces_official_md5():
    # hashes hard-coded in the official load_dataset.py of lm-extraction-benchmark
    train = data.tdec_sequences("train")
    val = data.tdec_sequences("val")
    assert train.shape == (15000, 200) and train.dtype == np.uint16
    assert hashlib.md5(train.tobytes()).hexdigest() == "6d85d7f2b48e34e6f96541a546a699bf"
    assert hashlib.md5(val.tobytes()).hexdigest() == "318d6f3d68dfd3497956a79678067c62"


@pytest.mark.parametrize("size", data.FORGET_SET_SIZES)
def test_forget_sets_map_to_tdec_rows(size):
    for draw in range(data.FORGET_SET_DRAWS):
        fs = data.forget_set(size, draw)
        assert len(fs) == size
        assert fs.token_ids().shape == (size, 200)


def test_forget_set_text_is_the_tdec_row():
    """Jang et al.'s CSV text re-tokenised with GPT-2 gives back the TDEC row (29 of 32 rows
    of lm_extraction_32_0; the rest differ by HF's clean-up of tokenization spaces)."""
    import pandas as pd

    fs = data.forget_set(32, 0)
    df = pd.read_csv(data.data_file("knowledge_unlearning/main/lm_extraction_32_0.csv"), lineterminator="\n")
    tok = data.gpt2_tokenizer()
    same = sum(tok.encode(t) == row.tolist() for t, row in zip(df["text"], fs.token_ids()))
    assert same >= 29


def test_every_manifest_file_verifies():
    for rel in data.manifest():
        assert data.data_file(rel).is_file()


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    dst = tmp_path / "data"
    shutil.copytree(data.data_dir(), dst)
    monkeypatch.setenv("UNLEARNKIT_DATA", str(dst))
    data.manifest.cache_clear()
    data.tdec_sequences.cache_clear()
    yield dst
    data.manifest.cache_clear()
    data.tdec_sequences.cache_clear()


def test_modified_file_is_named(data_copy):
    target = data_copy / "tdec" / "val_suffix.npy"
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 1
    target.write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError, match="modified.*val_suffix.npy"):
        data.tdec_sequences("val")


def test_missing_file_is_named(data_copy):
    (data_copy / "knowledge_unlearning" / "main" / "lm_extraction_32_3.csv").unlink()
    with pytest.raises(data.DataFileError, match="missing.*lm_extraction_32_3.csv"):
        data.forget_set(32, 3)


def test_unlisted_file_and_bad_arguments():
    with pytest.raises(data.DataFileError, match="not listed"):
        data.data_file("tdec/train_dataset.npy")
    with pytest.raises(ValueError, match="size"):
        data.forget_set(16, 0)
    with pytest.raises(ValueError, match="draw of size 32 must be in 0..9, got 10"):
        data.forget_set(32, 10)
    with pytest.raises(ValueError, match="draw of size 8 must be in 0..4, got 5"):
        data.forget_set(8, 5)  # extra draws exist for whole 32-row sets only
    with pytest.raises(ValueError, match="extra forget-set draw must be in 5..9, got 4"):
        data.extra_forget_set(4)
    with pytest.raises(ValueError, match="split"):
        data.tdec_sequences("test")


def test_wikitext_articles_start_with_titles():
    arts = data.wikitext2("test")
    assert len(arts) > 50
    assert all(a.lstrip().startswith("= ") for a in arts)


class _WordTokenizer:
    """A stand-in non-GPT-2 tokenizer: one id per whitespace-separated word."""

    def __len__(self):
        return 1000

    def encode(self, text, add_special_tokens=True):
        return [hash(w) % 1000 for w in text.split()]


def test_encode_tdec_with_another_tokenizer_cuts_to_length_and_raises_or_skips_short_rows():
    rows = data.tdec_sequences("val")[:20]
    words = np.array([len(t.split()) for t in data.decode_tdec(rows)])
    length = int(np.median(words))  # about half the rows are shorter
    tok = _WordTokenizer()
    with pytest.raises(ValueError, match=f"TDEC row {int(np.argmax(words < length))} encodes to"):
        data.encode_tdec(rows, tok, length)
    kept = data.encode_tdec(rows, tok, length, short="skip")
    assert kept.shape == ((words >= length).sum(), length) and kept.dtype == np.int64
    first_long = data.decode_tdec(rows[words >= length][:1])[0]
    assert kept[0].tolist() == tok.encode(first_long)[:length]
    with pytest.raises(ValueError, match="short must be"):
        data.encode_tdec(rows, tok, length, short="pad")


def test_extra_draws_are_whole_sets_disjoint_from_every_other_draw():
    """Draws 5 … 9: 32 TDEC train rows each, in no 32-row draw, in no other extra draw, each a
    subset of its 128-row source and of its rows outside the earlier 128-row draws, in file order."""
    base = {i for d in range(data.FORGET_SET_DRAWS) for i in data.forget_set(32, d).doc_ids}
    seen: set[int] = set()
    for draw in range(data.FORGET_SET_DRAWS, data.ALL_DRAWS):
        fs = data.forget_set(32, draw)
        source = data.forget_set(128, draw - data.FORGET_SET_DRAWS)
        assert fs.name == f"lm_extraction_128_{draw - 5}-rest[:32]" and len(set(fs.doc_ids)) == 32
        assert not set(fs.doc_ids) & base and not set(fs.doc_ids) & seen
        positions = [source.doc_ids.index(i) for i in fs.doc_ids]
        assert positions == sorted(positions)  # file order
        earlier = {i for d in range(draw - 5) for i in data.forget_set(128, d).doc_ids}
        skipped = [i for i in source.doc_ids[: positions[-1]] if i not in fs.doc_ids]
        assert all(i in base or i in earlier for i in skipped)  # the first 32 free rows, none passed over
        assert fs.token_ids().shape == (32, 200)
        seen |= set(fs.doc_ids)


def test_the_extra_draws_leave_draws_0_to_4_as_they_were():
    """The evidence for codehash.RESULT_NEUTRAL's entries of data and runs: every earlier draw
    is its CSV's rows, and a run's forget-set name is the earlier formula."""
    import pandas as pd

    from unlearnkit.experiments import runs

    for size in data.FORGET_SET_SIZES:
        for draw in range(data.FORGET_SET_DRAWS):
            df = pd.read_csv(
                data.data_file(f"knowledge_unlearning/main/lm_extraction_{size}_{draw}.csv"), lineterminator="\n"
            )
            fs = data.forget_set(size, draw)
            assert fs.name == f"lm_extraction_{size}_{draw}" and fs.doc_ids == tuple(int(i) for i in df["doc_id"])
    for draw in range(data.FORGET_SET_DRAWS):
        assert runs.forget_set_name(draw) == f"lm_extraction_32_{draw}"
        assert runs.forget_set_name(draw, 8, 0) == f"lm_extraction_32_{draw}[:8]"
        assert runs.forget_set_name(draw, 8, 2) == f"lm_extraction_32_{draw}[16:24]"
    assert runs.forget_set_name(7) == "lm_extraction_128_2-rest[:32]"
