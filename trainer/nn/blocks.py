"""YOLO building blocks (Conv-BN-SiLU, depthwise Conv, Bottleneck, C2f, C3, C3k, C3k2, SPPF, Concat), written from the
published architectures of YOLOv8 and YOLO11/YOLO26; attribute names follow the reference layout so checkpoints map
one to one."""
from __future__ import annotations

import math

import torch
from torch import nn

BN_EPS, BN_MOMENTUM = 1e-3, 0.03


def autopad(k: int, p: int | None = None, d: int = 1) -> int:
    """'same' padding for odd kernels."""
    if d > 1:
        k = d * (k - 1) + 1
    return k // 2 if p is None else p


class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> SiLU. `fuse()` folds the BN into the conv for inference."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, d: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold BatchNorm statistics into the conv weights and bias (inference only)."""
        conv, bn = self.conv, self.bn
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          dilation=conv.dilation, groups=conv.groups, bias=True).to(conv.weight.device)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused
        del self.bn
        self.forward = self.forward_fused  # type: ignore[method-assign]


def DWConv(c1: int, c2: int, k: int = 1, s: int = 1, act: bool = True) -> Conv:
    """Depthwise Conv: groups = gcd(c1, c2) (one filter per channel when c1 == c2)."""
    return Conv(c1, c2, k, s, g=math.gcd(c1, c2), act=act)


class Bottleneck(nn.Module):
    """Two Convs (kernels k) with an optional residual."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5,
                 k: tuple[int, int] = (3, 3)):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with two convs: split, n Bottlenecks on one half, concatenate every intermediate."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, e=1.0) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(torch.cat(y, 1))


class C3(nn.Module):
    """CSP bottleneck with three convs: n Bottlenecks on one branch, a 1x1 conv on the other, fused by a third."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5,
                 k: tuple[int, int] = (1, 3)):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0, k=k) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


def C3k(c1: int, c2: int, n: int = 2, shortcut: bool = True, g: int = 1) -> C3:
    """C3 with 3x3 kernels in both bottleneck convs (YOLO11's inner block at larger scales)."""
    return C3(c1, c2, n, shortcut, g, k=(3, 3))


class C3k2(C2f):
    """YOLO11/YOLO26 CSP block: C2f whose inner blocks are Bottlenecks (e 0.5), C3k blocks, or Bottleneck +
    attention (PSABlock) pairs."""

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, attn: bool = False,
                 g: int = 1, shortcut: bool = True):
        super().__init__(c1, c2, n, shortcut, g, e)
        from .attention import PSABlock

        def inner() -> nn.Module:
            if attn:
                return nn.Sequential(Bottleneck(self.c, self.c, shortcut, g),
                                     PSABlock(self.c, attn_ratio=0.5, num_heads=max(self.c // 64, 1)))
            return C3k(self.c, self.c, 2, shortcut, g) if c3k else Bottleneck(self.c, self.c, shortcut, g)

        self.m = nn.ModuleList(inner() for _ in range(n))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: n chained k x k max-pools concatenated. YOLOv8/11 activate cv1; YOLO26's has
    no activation on cv1 and adds a residual."""

    def __init__(self, c1: int, c2: int, k: int = 5, n: int = 3, shortcut: bool = False, cv1_act: bool = True):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1, act=cv1_act)
        self.cv2 = Conv(c_ * (n + 1), c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.n, self.add = n, shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(self.n):
            y.append(self.m(y[-1]))
        out = self.cv2(torch.cat(y, 1))
        return out + x if self.add else out


class Concat(nn.Module):
    """Concatenate a list of tensors along channels."""

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)
