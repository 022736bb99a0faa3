r"""
# Recall of the approximate search, on a trained model's keys

```
python -m labml_memory.memorizing_transformer.recall logs/memorizing_transformer/<uuid>/checkpoints/step_00000800.pt
```

The [Memorizing Transformer](__init__.py) searches its table exactly by default
(`index='flat'`). The approximate index (`index='hnsw'`) is only worth having if it finds
nearly the same pairs, and how nearly depends on the keys: random unit vectors are spread
evenly over the sphere, while a trained model's keys cluster (characters that behave alike
get keys that point alike), which can make a graph search easier or harder. So recall is
measured on both: the model of a checkpoint reads the start of the held-out text until its
table is full, and then the queries of the next segment search that table exactly and with
HNSW at several search breadths `efSearch`.

Recall@$k$ is the share of the exact top $k$ that the approximate search also returns,
averaged over every query, head and stream ([`measure_recall`](__init__.py#recall-of-an-approximate-search)).
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from labml_memory.memorizing_transformer import measure_recall
from labml_memory.memorizing_transformer.experiment import PRESETS, Config, build_model
from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
from labml_memory.training import checkpoint
from labml_memory.training.config import build_config

# The search breadths tried; faiss raises any below $k$ to $k$.
EF_SEARCH = (32, 64, 128)


# ## The model and its table
#
# The checkpoint's configuration rebuilds the model exactly; the held-out text is read in
# the trainer's parallel streams until the table holds `mem_size` pairs, and a forward
# hook on the kNN attention captures what it is handed for the next segment: the segment's
# layer input (to compute the queries with the layer's own $W_q$) and the table.
@torch.no_grad()
def queries_and_table(path: Path, streams_count: int = 4):
    state = checkpoint.load(path)
    config = build_config(Config, PRESETS, {}, base=state['config'])
    text = load_text()
    vocab = Vocabulary.from_text(text)
    model = build_model(config, vocab.size)
    model.load_state_dict(state['model'])
    model.eval()
    _, valid = split(vocab.encode(text))
    streams = SequentialStreams(valid, streams_count, config.seq_len)
    attn = model.layers[model.knn_layer].attention
    captured = {}

    # `args` are `KNNAttention.forward`'s: h, context, rel, u, v, mask, keys, values, valid.
    def hook(module, args):
        captured['h'], captured['keys'] = args[0], args[6]

    handle = attn.register_forward_pre_hook(hook)
    memory = None
    # Enough segments to fill the table, then one more whose queries search it.
    for index in range(-(-config.mem_size // config.seq_len) + 1):
        _, memory, _ = model(streams.segment(index)[0], memory)
    handle.remove()
    q_hat = F.normalize(attn.query(captured['h']).float(), dim=-1)
    return q_hat, captured['keys'], config


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m labml_memory.memorizing_transformer.recall <checkpoint.pt>", file=sys.stderr)
        raise SystemExit(2)
    q_hat, keys, config = queries_and_table(Path(argv[0]))
    # ### The same search on random unit vectors of the same shape, for comparison
    torch.manual_seed(0)
    random_q, random_k = F.normalize(torch.randn_like(q_hat), dim=-1), F.normalize(torch.randn_like(keys), dim=-1)
    print(f"table {tuple(keys.shape)} [streams, heads, pairs, d_k], k = {config.top_k}")
    print("| keys | efSearch | recall@k |\n|---|---:|---:|")
    for name, (q, k) in (('trained', (q_hat, keys)), ('random', (random_q, random_k))):
        for ef in EF_SEARCH:
            recall = measure_recall(q, k, config.top_k, 'hnsw', hnsw_neighbors=config.hnsw_neighbors,
                                    hnsw_ef_search=ef)
            print(f"| {name} | {max(ef, config.top_k)} | {recall:.4f} |")


if __name__ == '__main__':
    main()
