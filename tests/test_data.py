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
    with pytest.raises(ValueError, match="draw"):
        data.forget_set(32, 5)
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
