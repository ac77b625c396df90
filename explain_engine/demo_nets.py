"""Small CNNs for the offline demo world (128x128 two-object scenes).

Four conv blocks (conv, BN, ReLU), the first with stride 2, max pooling after
blocks 1 and 2, so the last feature map is 16x16 for a 128x128 input: fine
enough for Grad-CAM to localize objects of 20-45 px. Three blocks stayed at
chance in the prototype, so four is the minimum.
"""

from __future__ import annotations

from torch import nn

# Input normalization of the demo networks (ImageNet's statistics): training and explaining must agree.
DEMO_MEAN = (0.485, 0.456, 0.406)
DEMO_STD = (0.229, 0.224, 0.225)

STRONG_WIDTHS = (16, 32, 64, 128)
WEAK_WIDTHS = (8, 16, 32, 32)


class ShapesNet(nn.Module):
    """Multi-label classifier: one logit per class (sigmoid at training time)."""

    def __init__(self, num_classes: int, widths: tuple[int, int, int, int] = STRONG_WIDTHS):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.features = nn.Sequential(
            nn.Conv2d(3, w1, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(w1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1, bias=False),
            nn.BatchNorm2d(w2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w2, w3, 3, padding=1, bias=False),
            nn.BatchNorm2d(w3),
            nn.ReLU(inplace=True),
            nn.Conv2d(w3, w4, 3, padding=1, bias=False),
            nn.BatchNorm2d(w4),
            nn.ReLU(inplace=True),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(w4, num_classes)

    def forward(self, x):
        x = self.avgpool(self.features(x)).flatten(1)
        return self.classifier(x)


def shapes_strong(num_classes: int) -> ShapesNet:
    return ShapesNet(num_classes, STRONG_WIDTHS)


def shapes_weak(num_classes: int) -> ShapesNet:
    return ShapesNet(num_classes, WEAK_WIDTHS)


# Architectures that load_model knows besides torchvision's, by name.
DEMO_ARCHITECTURES = {"shapes_strong": shapes_strong, "shapes_weak": shapes_weak}
DEMO_TARGET_LAYER = "features.13"
