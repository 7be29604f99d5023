"""One-hot encoding and reverse complement against slow per-base references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.data.encoding import (
    ALPHABET,
    IUPAC_BASES,
    IUPAC_COMPLEMENT,
    codes_to_one_hot,
    decode_one_hot,
    encode_codes,
    one_hot_encode,
    reverse_complement,
    reverse_complement_codes,
)
from src.errors import InputError

IUPAC = "".join(IUPAC_BASES)
iupac_text = st.text(alphabet=IUPAC + IUPAC.lower(), min_size=1, max_size=40)


def slow_one_hot(sequence: str, length: int) -> np.ndarray:
    """Per-base reference: an ambiguous letter spreads 1 over its bases; centred in zeros."""
    out = np.zeros((4, length), dtype=np.float32)
    start = (length - len(sequence)) // 2
    for position, letter in enumerate(sequence.upper()):
        bases = IUPAC_BASES[letter]
        for base in bases:
            out[ALPHABET.index(base), start + position] = 1.0 / len(bases)
    return out


def slow_reverse_complement(sequence: str) -> str:
    return "".join(IUPAC_COMPLEMENT[c.upper()] for c in reversed(sequence))


@settings(max_examples=200, deadline=None)
@given(st.lists(iupac_text, min_size=1, max_size=8), st.integers(0, 7))
def test_encoding_matches_per_base_reference(sequences, extra):
    length = max(map(len, sequences)) + extra
    encoded = one_hot_encode(sequences, length)
    assert encoded.shape == (len(sequences), 4, length) and encoded.dtype == np.float32
    for sequence, matrix in zip(sequences, encoded):
        np.testing.assert_allclose(matrix, slow_one_hot(sequence, length), rtol=0, atol=1e-7)


@settings(max_examples=200, deadline=None)
@given(st.lists(iupac_text, min_size=1, max_size=8), st.integers(0, 7))
def test_reverse_complement_of_codes_is_encoding_of_reverse_complement(sequences, extra):
    length = max(map(len, sequences)) + extra
    codes = encode_codes(sequences, length)
    expected = encode_codes([slow_reverse_complement(s) for s in sequences], length)
    np.testing.assert_array_equal(reverse_complement_codes(codes), expected)
    np.testing.assert_array_equal(reverse_complement_codes(reverse_complement_codes(codes)), codes)


@given(iupac_text)
def test_string_reverse_complement_is_an_involution_and_keeps_case(sequence):
    assert reverse_complement(reverse_complement(sequence)) == sequence
    assert reverse_complement(sequence).upper() == slow_reverse_complement(sequence)


def test_iupac_complement_pairs_and_fractions():
    assert reverse_complement("ACGTRYKMBVDHSWN") == "NWSDHBVKMRYACGT"
    matrix = one_hot_encode(["NRB"])[0]
    np.testing.assert_allclose(matrix[:, 0], [0.25] * 4)
    np.testing.assert_allclose(matrix[:, 1], [0.5, 0, 0.5, 0])
    np.testing.assert_allclose(matrix[:, 2], [0, 1 / 3, 1 / 3, 1 / 3], rtol=1e-6)
    assert decode_one_hot(one_hot_encode(["ACGTN"])[0]) == "ACGTN"


def test_centred_padding_puts_the_odd_base_on_the_right():
    codes = encode_codes(["AC"], 5)
    assert codes[0].tolist()[0] == 0 and codes[0].tolist()[3:] == [0, 0]
    assert codes_to_one_hot(codes).shape == (1, 4, 5)


def test_invalid_letter_names_row_position_and_fix():
    with pytest.raises(InputError, match=r"sequence 2 has 'Z' at position 3.*IUPAC"):
        encode_codes(["ACGT", "ACZT"], 4)
    with pytest.raises(InputError, match=r"'é' at position 2"):
        encode_codes(["AéG"], 3)
    with pytest.raises(InputError, match=r"'U' at position 1"):
        encode_codes(["UAG"], 3)


def test_too_long_sequence_is_an_error_naming_the_length():
    with pytest.raises(InputError, match=r"6 bp, longer than the model input length 5.*sequence_length"):
        encode_codes(["ACGTAC"], 5)
