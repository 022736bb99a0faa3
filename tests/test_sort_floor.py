"""The floor of frequency sort's teacher-forced token accuracy, checked by simulating guessers."""
import math

import torch

from labml_memory.tasks.frequency_sort import SYMBOLS, memoryless_floor, sample


def simulate_uniform_guesser(length, n=3000, seed=3):
    truth = sample(n, length, torch.Generator().manual_seed(seed)).targets[:, -SYMBOLS:]
    generator = torch.Generator().manual_seed(seed + 1)
    listed = torch.zeros(n, SYMBOLS, dtype=torch.bool)
    right = 0
    for k in range(SYMBOLS):
        guess = torch.multinomial((~listed).float(), 1, generator=generator)[:, 0]
        right += (guess == truth[:, k]).sum().item()
        listed[torch.arange(n), truth[:, k]] = True
    return right / (n * SYMBOLS)


def test_uniform_guesser_scores_h20_over_20_not_one_in_twenty():
    h20 = sum(1 / k for k in range(1, SYMBOLS + 1)) / SYMBOLS
    assert abs(h20 - 0.1799) < 1e-4
    # Positions within a row are not independent; 3,000 rows keep the spread near 0.003.
    # Ties do not matter to a uniform pick, so a short sequence serves.
    assert abs(simulate_uniform_guesser(128) - h20) < 0.012


def test_floor_is_the_smallest_id_guesser_and_beats_uniform_where_ties_are_common():
    short, long = memoryless_floor(256, samples=2000), memoryless_floor(4096, samples=500)
    assert 0.19 < short < 0.21 and 0.178 < long < 0.19
    assert short > simulate_uniform_guesser(256) + 0.01
    assert not math.isclose(short, 1 / SYMBOLS, abs_tol=0.1)


def test_gpu_preset_is_the_papers_regime_and_keys_still_override():
    import pytest
    from labml_memory.studies.frequency_sort import configure
    config, model_config, _ = configure({'preset': 'gpu', 'model': 'transformer_xl', 'steps': '7'})
    assert (config.length, config.seg_len, config.batch_size, config.curriculum_steps, config.device) == \
        (8192, 512, 8, 0, 'cuda')
    assert config.steps == 7  # the command line wins over the preset
    assert (model_config.d_model, model_config.n_layers, model_config.heads, model_config.seq_len) == (300, 3, 6, 512)
    cpu, cpu_model, _ = configure({'model': 'transformer_xl'})
    assert (cpu.length, cpu_model.d_model) == (1024, 64)
    with pytest.raises(ValueError, match="unknown preset 'tpu'"):
        configure({'preset': 'tpu', 'model': 'transformer_xl'})


def test_floor_estimate_takes_any_sample_count_and_defaults_to_the_pages_4000():
    # Drawn in chunks of 500: a count that is not a multiple of 500 uses every sequence once.
    odd = memoryless_floor(256, samples=700)
    assert 0.17 < odd < 0.23
    # The page's floor is the default estimate, 4,000 sequences from seed 54,321.
    assert memoryless_floor(64) == memoryless_floor(64, samples=4000, seed=54_321)
    assert memoryless_floor(64) != memoryless_floor(64, samples=3500, seed=54_321)
