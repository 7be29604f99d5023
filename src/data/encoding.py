"""One-hot encoding and reverse complement of DNA, vectorised over bytes.

Sequences are first turned into compact *codes* (uint8, one per base: 0 = padding, 1..15 = the
IUPAC letters) with one table lookup over the bytes of all sequences at once; a code becomes its
one-hot column (rows A, C, G, T) by a second lookup, per batch, on the device. An ambiguous letter
spreads 1 over its possible bases (R = A/G gives 0.5 each, N gives 0.25 each); padding is all zero.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import InputError

ALPHABET = "ACGT"
IUPAC_BASES = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}
IUPAC_COMPLEMENT = {
    "A": "T", "C": "G", "G": "C", "T": "A", "R": "Y", "Y": "R", "S": "S", "W": "W",
    "K": "M", "M": "K", "B": "V", "V": "B", "D": "H", "H": "D", "N": "N",
}
LETTERS = "".join(IUPAC_BASES)  # code k (1..15) is LETTERS[k - 1]
PAD_CODE = 0
CODE_LETTERS = np.array(["N"] + list(LETTERS))  # code -> letter (padding, code 0, as "N")
INVALID = 255


def _tables():
    byte_to_code = np.full(256, INVALID, dtype=np.uint8)
    code_to_one_hot = np.zeros((len(LETTERS) + 1, 4), dtype=np.float32)
    code_complement = np.zeros(len(LETTERS) + 1, dtype=np.uint8)
    for code, letter in enumerate(LETTERS, start=1):
        byte_to_code[ord(letter)] = byte_to_code[ord(letter.lower())] = code
        bases = IUPAC_BASES[letter]
        for base in bases:
            code_to_one_hot[code, ALPHABET.index(base)] = 1.0 / len(bases)
        code_complement[code] = LETTERS.index(IUPAC_COMPLEMENT[letter]) + 1
    for table in (byte_to_code, code_to_one_hot, code_complement):
        table.setflags(write=False)
    return byte_to_code, code_to_one_hot, code_complement


BYTE_TO_CODE, CODE_TO_ONE_HOT, CODE_COMPLEMENT = _tables()
_ONE_HOT_TORCH = torch.from_numpy(CODE_TO_ONE_HOT.copy())


def encode_codes(sequences: Sequence[str], length: int | None = None,
                 source: str = "sequences", describe_row=None) -> np.ndarray:
    """Turn DNA strings into codes, centred in padding when `length` is given.

    Parameters
    ----------
    sequences : sequence of str, N strings over IUPAC letters, any case
    length : int, optional
        Output length L. Shorter sequences are centred (the extra padding base goes to the right);
        a longer one is an error. Default: the longest sequence.
    source : str, the file (or argument) named in error messages
    describe_row : callable, optional, row index -> text naming that row in error messages

    Returns
    -------
    codes : np.ndarray, shape (N, L), uint8
    """
    n = len(sequences)
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=n)
    if length is None:
        length = int(lengths.max()) if n else 0
    if n and lengths.max() > length:
        row = int(np.argmax(lengths > length))
        raise InputError(
            f"{source}: {_row_name(row, describe_row)} is {lengths[row]} bp, longer than the model "
            f"input length {length}: raise sequence_length in the JSON config or trim the sequence")
    buffer = _ascii_buffer(sequences, source, describe_row)
    codes_flat = BYTE_TO_CODE[buffer]
    if (codes_flat == INVALID).any():
        _raise_invalid_letter(codes_flat, lengths, buffer, source, describe_row)
    out = np.zeros((n, length), dtype=np.uint8)
    if n == 0:
        return out
    # Rows of one length form a block: a reshape, then one strided copy per distinct length
    # (a single block in the usual case where all sequences have the same length).
    offsets = np.cumsum(lengths) - lengths
    for size in np.unique(lengths):
        rows = np.flatnonzero(lengths == size)
        start = (length - size) // 2
        if len(rows) == n:
            block = codes_flat.reshape(n, size)
        else:
            block = codes_flat[offsets[rows, None] + np.arange(size)]
        out[rows, start:start + size] = block
    return out


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of centred codes, shape (N, L) -> (N, L), still centred.

    Reversing a row mirrors its padding; when the padding is odd the sequence is shifted back by
    one so that it sits exactly where `encode_codes` puts a sequence of that length.
    """
    rc = CODE_COMPLEMENT[codes[:, ::-1]]
    lengths = (codes != PAD_CODE).sum(axis=1)
    odd = ((codes.shape[1] - lengths) % 2 == 1) & (lengths > 0)
    if odd.any():
        rc[odd] = np.roll(rc[odd], -1, axis=1)
    return rc


def reverse_complement(sequence: str) -> str:
    """Reverse complement of one IUPAC string (case kept)."""
    table = str.maketrans("".join(IUPAC_COMPLEMENT) + "".join(IUPAC_COMPLEMENT).lower(),
                          "".join(IUPAC_COMPLEMENT.values())
                          + "".join(IUPAC_COMPLEMENT.values()).lower())
    return sequence.translate(table)[::-1]


def codes_to_one_hot(codes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Codes (..., L) to one-hot float32 (..., 4, L), on the device of `codes`."""
    codes = torch.as_tensor(codes)
    table = _ONE_HOT_TORCH.to(codes.device)
    rows = torch.index_select(table, 0, codes.reshape(-1).long())  # fastest lookup measured on CPU
    return rows.view(*codes.shape, 4).transpose(-1, -2).contiguous()


def one_hot_encode(sequences: Sequence[str], length: int | None = None, **names) -> np.ndarray:
    """One-hot encode DNA strings: shape (N, 4, L), float32, rows A, C, G, T."""
    return codes_to_one_hot(encode_codes(sequences, length, **names)).numpy()


def decode_one_hot(x: np.ndarray) -> str:
    """The most likely base at each position of a (4, L) matrix ('N' where the column is flat)."""
    x = np.asarray(x, dtype=np.float32)
    letters = np.array(list(ALPHABET))[x.argmax(axis=0)]
    letters[np.isclose(x.max(axis=0), x.min(axis=0))] = "N"
    return "".join(letters)


def _ascii_buffer(sequences, source, describe_row) -> np.ndarray:
    try:
        joined = "".join(sequences).encode("ascii")
    except UnicodeEncodeError:
        for row, sequence in enumerate(sequences):
            for position, char in enumerate(sequence):
                if not char.isascii():
                    raise InputError(_invalid_message(source, row, describe_row, position, char))
        raise
    except TypeError:
        row = next(i for i, s in enumerate(sequences) if not isinstance(s, str))
        raise InputError(f"{source}: {_row_name(row, describe_row)} has no sequence text "
                         f"(got {sequences[row]!r}); fill in the sequence or remove the row") from None
    return np.frombuffer(joined, dtype=np.uint8)


def _raise_invalid_letter(codes_flat, lengths, buffer, source, describe_row):
    first = int(np.argmax(codes_flat == INVALID))
    ends = np.cumsum(lengths)
    row = int(np.searchsorted(ends, first, side="right"))
    position = first - (int(ends[row - 1]) if row else 0)
    raise InputError(_invalid_message(source, row, describe_row, position, chr(buffer[first])))


def _invalid_message(source, row, describe_row, position, char) -> str:
    return (f"{source}: {_row_name(row, describe_row)} has {char!r} at position {position + 1}, "
            f"which is not a DNA letter: use A, C, G, T or the IUPAC codes {LETTERS[4:]} "
            f"(any case), e.g. N for an unknown base")


def _row_name(row: int, describe_row) -> str:
    return describe_row(row) if describe_row is not None else f"sequence {row + 1}"
