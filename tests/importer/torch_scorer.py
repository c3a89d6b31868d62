"""A small torch module at module level, so a pickled copy can be loaded again (imported only
where torch is installed)."""

from __future__ import annotations

import torch


class Scorer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.layers(x), dim=-1)


def build() -> Scorer:
    torch.manual_seed(0)
    return Scorer().eval()
