r"""
# The entries: who gets a row

A row of the [benchmark](__init__.py) is one of three kinds of entry: one of
[ours](ours.py), found by the registry convention; the [plain-transformer baseline](baseline.py);
or a [peer](peers.py), a public implementation of the same paper. This module names them all,
says which is which, and builds any of them by name, so the rest of the benchmark never
needs to know the difference.
"""
from typing import Dict, List, Tuple

import torch

from labml_memory.benchmark.baseline import BASELINE, baseline_shape, build_baseline
from labml_memory.benchmark.ours import build_ours, our_architectures
from labml_memory.benchmark.peers import PEERS, Sizes, build_peer


# Every name the study's `only` setting accepts.
def all_entries() -> List[str]:
    """Ours first, then the plain-transformer baseline, then the peers, by name."""
    return our_architectures() + [BASELINE] + list(PEERS)


# Every row says whether it is ours or a peer, which of our architectures it is compared
# with (`implements`), and which distribution it came from.
def describe(name: str) -> Dict[str, str]:
    """Whether an entry is ours or a peer, and which of our architectures it is compared with."""
    if name in PEERS:
        return {'kind': 'peer', 'implements': PEERS[name].implements, 'package': PEERS[name].package}
    if name == BASELINE:
        return {'kind': 'baseline', 'implements': BASELINE, 'package': 'labml_memory'}
    return {'kind': 'ours', 'implements': name, 'package': 'labml_memory'}


# Building is where a half-written architecture or a missing package shows: a peer raises
# `PeerUnavailable`, one of ours whatever its import raises; the worker turns either into a row.
def build_entry(name: str, sizes: Sizes) -> torch.nn.Module:
    if name in PEERS:
        return build_peer(name, sizes)
    if name == BASELINE:
        return build_baseline(sizes)
    return build_ours(name, sizes)


# The segment length and batch an entry trains with: the shared ones, except for the
# baseline's twice-as-long segments with half the streams.
def training_shape(name: str, sizes: Sizes) -> Tuple[int, int]:
    if name == BASELINE:
        return baseline_shape(sizes)
    return sizes.seq_len, sizes.batch_size
