"""Shared fixtures for the explanation-engine tests (pure PyTorch, no Django)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explain_engine import METHODS

torch.set_num_threads(2)


class Tiny(nn.Module):
    """A fixed-weight model small enough to differentiate by hand.

    x (1, 1, 2, 2) -> 1x1 conv to 2 channels (w = [2, -1], b = [0, 0.5]) -> nn.ReLU
    (target layer "relu") -> spatial mean -> fc1 (3x2) -> functional F.relu -> fc2 (2x3).
    """

    def __init__(self, functional_first=False):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Linear(2, 3, bias=False)
        self.fc2 = nn.Linear(3, 2, bias=False)
        self.functional_first = functional_first
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, 0.5]))
            self.fc1.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]))
            self.fc2.weight.copy_(torch.tensor([[1.0, 0.5, 0.5], [-1.0, 3.0, 0.5]]))

    def forward(self, x):
        z = self.conv(x)
        a = F.relu(z) if self.functional_first else self.relu(z)
        p = a.mean((2, 3))
        h = F.relu(self.fc1(p))
        return self.fc2(h)


TINY_X = torch.tensor([[1.0, -2.0], [3.0, 0.5]]).view(1, 1, 2, 2)


@pytest.fixture
def tiny():
    return Tiny().eval()


@pytest.fixture(scope="session")
def resnet18_random():
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


# Every registered method: a method added to the registry is covered by these tests at once.
ALL_METHODS = tuple(METHODS)
