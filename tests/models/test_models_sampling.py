import pytest
import torch
from transformers.generation.logits_process import TopPLogitsWarper

from seltda.models.sampling import NucleusSampler, nucleus_draw


@pytest.mark.parametrize("candidates", [3, 64])  # 3: the flat row's nucleus is wider, so it sorts
def test_nucleus_draw_has_transformers_top_p_distribution(candidates):
    logits = torch.tensor([[4.0, 3.0, 2.5, 1.0, 0.0, -1.0, -3.0], [0.2, 0.1, 0.0, 0.0, -0.1, -0.2, -5.0]])
    expected = TopPLogitsWarper(0.8)(None, logits.clone()).softmax(-1)
    rows = 40_000
    torch.manual_seed(0)
    drawn = nucleus_draw(logits.softmax(-1).repeat_interleave(rows, 0), 0.8, candidates).view(2, rows)
    frequency = torch.stack([torch.bincount(row, minlength=7) for row in drawn]).float() / rows
    assert (frequency[expected == 0] == 0).all(), "a token outside transformers' nucleus was drawn"
    assert torch.allclose(frequency, expected, atol=0.01)


def test_sampler_scores_the_raw_distribution_and_forces_its_draw():
    torch.manual_seed(0)
    raw = torch.randn(5, 11)
    prompt = torch.ones(5, 3, dtype=torch.long)
    sampler = NucleusSampler([0], top_p=0.7, temperature=0.5, repetition_penalty=2.0)
    forced = sampler(prompt, raw.clone())
    token = forced.argmax(-1)
    assert (forced.isinf().sum(-1) == 10).all() and (forced.gather(-1, token[:, None]) == 0).all()
    expected = raw.log_softmax(-1).gather(-1, token[:, None]).squeeze(-1)
    assert torch.allclose(sampler.steps[0], expected)


def test_min_new_tokens_holds_back_the_end_until_reached():
    end, rows = 0, 200
    scores = torch.tensor([[9.0, 0.0, 0.0]]).repeat(rows, 1)  # the end token is all but certain
    sampler = NucleusSampler([end], top_p=0.9, min_new_tokens=2)
    prompt = torch.full((rows, 4), 2)
    for new_tokens in range(3):
        draw = sampler(torch.cat([prompt, torch.full((rows, new_tokens), 1)], dim=1), scores).argmax(-1)
        assert (draw == end).any() == (new_tokens >= 2)


def test_mean_logprobs_count_tokens_up_to_the_first_end():
    sampler = NucleusSampler([9])
    sampler.steps = [torch.tensor([-1.0, -1.0]), torch.tensor([-3.0, -2.0]), torch.tensor([-5.0, -3.0])]
    generated = torch.tensor([[4, 9, 9], [4, 5, 9]])  # row 0 ends at its 2nd token (then padding)
    assert sampler.mean_logprobs(generated) == [-2.0, -2.0]
    assert sampler.mean_logprobs(generated[:, :2]) == [-2.0, -1.5]  # steps transformers undid


def test_repetition_penalty_skips_each_rows_left_padding():
    end = pad = 2
    prompts = torch.tensor([[pad, pad, 5, 6], [7, 7, 5, 6]])  # row 0 is left-padded with the end token
    scores = torch.zeros(2, 8)
    scores[:, end] = 3.0
    seen = {}

    class Spy(NucleusSampler):
        def __call__(self, input_ids, scores):
            if self.prompt_length is None:
                self._start(input_ids)
            seen["shaped"] = self.shapers(input_ids, scores.clone())
            return super().__call__(input_ids, scores)

    Spy([end], repetition_penalty=1.5, prompt_padding=torch.tensor([2, 0]))(prompts, scores)
    assert seen["shaped"][:, end].tolist() == [3.0, 3.0]


def test_top_p_one_draws_from_every_token_with_mass():
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(30_000, 1)
    torch.manual_seed(0)
    counts = torch.bincount(nucleus_draw(probs, 1.0), minlength=5).float() / 30_000
    assert counts[1] == 0 and counts[4] == 0
    assert torch.allclose(counts, probs[0], atol=0.01)
