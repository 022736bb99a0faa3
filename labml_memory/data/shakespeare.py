r"""
# Tiny Shakespeare as parallel streams

Tiny Shakespeare is about a megabyte of Shakespeare's plays as plain text: 1,115,394
characters over 65 distinct ones. It is small enough to train on a laptop CPU in minutes and
long enough that a character-level model has something to remember across segments
(speaker names, the current scene's vocabulary, verse metre).

The project ships its own copy of the file, so nothing here touches the network. The
download code is kept for a copy that has been deleted; it fetches the file once, checks it
and stores it where the shipped copy lives.
"""

import hashlib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch

# The shipped copy, and where it came from. The checksum pins the exact file.
DATA_FILE = Path(__file__).parent / 'tiny_shakespeare.txt'
SOURCE_URL = 'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt'
MD5 = '6fb458f1232090904fb40fe944165e91'


# ## Getting the file
#
# Only called when the shipped copy is missing (a stripped install, a deleted file). The
# checksum guards against a truncated download or a changed upstream file: either would
# quietly change every number on the results pages.
def download(path: Path, url: str = SOURCE_URL, timeout: float = 30.0) -> Path:
    """Fetch the corpus into `path`, refusing a file whose checksum does not match."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            content = response.read()
    except OSError as e:
        raise FileNotFoundError(
            f"Tiny Shakespeare is missing at {path} and could not be downloaded from {url} ({e}). "
            f"Reinstall the package, or place the file there yourself (md5 {MD5}).") from e
    if hashlib.md5(content).hexdigest() != MD5:
        raise ValueError(f"the file downloaded from {url} does not have md5 {MD5}; not saving it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def load_text(path: Optional[Path] = None, allow_download: bool = True) -> str:
    r"""
    The corpus as one string. `path` defaults to the shipped copy; a missing default copy is
    downloaded (when `allow_download`), a missing file the caller named is an error.
    """
    explicit = path is not None
    path = Path(path) if explicit else DATA_FILE
    if not path.exists():
        if explicit or not allow_download:
            raise FileNotFoundError(f"dataset file not found: {path}. The project ships Tiny "
                                    f"Shakespeare at {DATA_FILE}; pass that path or leave it unset.")
        download(path)
    text = path.read_text(encoding='utf-8')
    if len(text) < 2:
        raise ValueError(f"dataset file {path} holds {len(text)} characters; need at least 2")
    return text


# ## Characters as tokens
#
# Character-level modelling keeps the vocabulary tiny (65 symbols), so the embedding and the
# output head are cheap and all of a model's capacity goes into its layers and its memory.
# It also makes the metric comparable with the papers' enwik8 and text8 results, which are
# per character (bits per character), though the texts differ.
@dataclass
class Vocabulary:
    r"""
    Characters to ids and back. Ids follow sorted character order, so the same text always
    gives the same ids, and a checkpoint's vocabulary can be checked against the data.
    """
    chars: str

    @classmethod
    def from_text(cls, text: str) -> 'Vocabulary':
        return cls(''.join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"characters outside the vocabulary: {unknown[:10]!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return ''.join(self.chars[int(i)] for i in ids)


def split(data: torch.Tensor, train_fraction: float = 0.9) -> Tuple[torch.Tensor, torch.Tensor]:
    """The first 90% of the text for training and the rest for validation, the common split."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    cut = int(len(data) * train_fraction)
    return data[:cut], data[cut:]


# ## Parallel sequential streams
#
# A memory model must see consecutive segments of the *same* text in consecutive calls,
# otherwise its memory describes the wrong context. So rather than sampling random windows,
# we cut the text into `batch_size` long contiguous streams, one per row of the batch, and
# walk all of them forward together, one segment of `seq_len` characters per step. Each row
# of batch $\tau + 1$ continues exactly where the same row of batch $\tau$ stopped:
#
# ```
# stream 0: [seg 0][seg 1][seg 2] ...
# stream 1: [seg 0][seg 1][seg 2] ...
# ```
#
# Targets are the inputs shifted by one character. When the streams run out we start again
# from the beginning (a new epoch) and tell the trainer to reset the memory, because the
# text it holds no longer precedes the segment.
#
# Under [distributed training](../training/distributed.py) the text is cut into
# `world_size × batch_size` streams and each rank reads only its own rows (`rows`).
class SequentialStreams:
    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int, rows: Optional[slice] = None):
        if batch_size <= 0 or seq_len <= 0:
            raise ValueError(f"batch_size and seq_len must be positive, got {batch_size}, {seq_len}")
        stream_len = (len(data) - 1) // batch_size
        if stream_len < seq_len:
            raise ValueError(f"{len(data)} tokens cannot fill {batch_size} streams of at least "
                             f"seq_len={seq_len}; lower batch_size or seq_len")
        self.seq_len = seq_len
        # `[batch, stream_len + 1]`: one extra column so the last target exists.
        # Cut the text into `batch_size` equal streams, dropping the last few characters
        # that do not fill a stream; stream `b` starts at character `b * stream_len`.
        usable = stream_len * batch_size
        rows = slice(None) if rows is None else rows
        self.inputs = data[:usable].view(batch_size, stream_len)[rows]
        self.targets = data[1:usable + 1].view(batch_size, stream_len)[rows]
        # Full segments only: a short tail segment would change the batch shape.
        self.segments_per_epoch = stream_len // seq_len

    def __len__(self) -> int:
        return self.segments_per_epoch

    def segment(self, index: int) -> Tuple[torch.Tensor, torch.Tensor, bool]:
        r"""
        The `index`-th segment since the start of training (any integer: epochs wrap), and
        whether it opens an epoch, in which case the memory must be reset. Segments are a pure
        function of the index, which is what lets a resumed run continue exactly.
        """
        position = index % self.segments_per_epoch
        start = position * self.seq_len
        cols = slice(start, start + self.seq_len)
        return self.inputs[:, cols], self.targets[:, cols], position == 0
