"""A compact style network distilled from a TransformerNet teacher, built for CPU latency.

On a CPU the teacher's cost is mostly memory traffic at full resolution (32-channel
tensors at every pixel: its 9x9 convs, an upsampling conv and three norms) and its
128-channel 3x3 convs at quarter resolution. The compact network keeps the teacher's
*middle* (the stride-2 conv, five residual blocks and the first upsampling conv, with
the teacher's instance norms) in Tucker-factorised form (1x1 -> small kxk core -> 1x1,
initialised from the teacher's own weights, so the style's geometry starts intact), and
replaces the two full-resolution ends with small learned ones that run at half
resolution behind a pixel (un)shuffle:

    RGB -> unshuffle(2) -> encoder (5x5, IN, 3x3) -> teacher in2 -> middle (Tucker) -> teacher in4
        -> decoder (3x3, IN, 3x3, 3x3) -> shuffle(2) -> RGB

Nothing wider than 3 channels touches a full-resolution pixel. The VGA-sized forms: "light"
ends (3x3 convs on a few channels, 1x1 convs to and from the teacher's 64) and "slim" ends
(no 64-channel interface: the encoder's few channels feed the middle's first Tucker
projection and the last Tucker expansion writes the decoder's, so the MACs go to the
middle's rank, the part that limits a small student's score). Input and output are RGB
in [0, 1]; sizes divisible by 4 (``StyleStage`` pads).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

COMPACT_FORMAT = "livefx-compact"
ENDS = ("full", "light", "slim")


@dataclass(frozen=True)
class CompactConfig:
    rank: int = 32  # Tucker rank of the 128-channel convs of the middle
    width: int = 48  # channels of the learned encoder and decoder (half resolution)
    #: "full": 5x5 and 3x3 convs into the teacher's 64 channels and out of them; "light": 3x3
    #: convs on ``width`` channels only, 1x1 convs to and from the 64 (the VGA-sized students);
    #: "slim": no 64-channel interface at all, the ``width`` channels feed the middle's first
    #: projection and its last factor writes them (MACs moved into the middle's rank).
    ends: str = "full"
    #: The residual blocks' norms: "instance" (the teacher's) or "fixed" (its statistics on the
    #: training views, folded into the convs: no pass over the 128-channel tensors).
    block_norms: str = "instance"
    #: The slim form's other norms (encoder, stride-2 conv, decoder): "instance", or "fixed" at
    #: statistics folded into the conv before each (``fix_end_norms``): no norm pass at all.
    end_norms: str = "instance"
    #: How every conv pads: "reflect" (the teacher's) or "zeros", which graph runtimes fold
    #: into the convolution instead of running a padding pass before it.
    padding: str = "reflect"

    def to_metadata(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> CompactConfig:
        return cls(
            rank=int(meta.get("rank", 32)),
            width=int(meta.get("width", 48)),
            ends=meta.get("ends", "full"),
            block_norms=meta.get("block_norms", "instance"),
            end_norms=meta.get("end_norms", "instance"),
            padding=meta.get("padding", "reflect"),
        )

    def check(self) -> None:
        if not 4 <= self.rank <= 128 or not 8 <= self.width <= 256:
            raise ValueError(f"compact config out of range: rank {self.rank} (4..128), width {self.width} (8..256)")
        if self.ends not in ENDS:
            raise ValueError(f"compact config: ends {self.ends!r} ({', '.join(ENDS)})")
        if self.block_norms not in ("instance", "fixed"):
            raise ValueError(f"compact config: block norms {self.block_norms!r} (instance or fixed)")
        if self.end_norms not in ("instance", "fixed") or (self.end_norms == "fixed" and self.ends != "slim"):
            raise ValueError(f"compact config: end norms {self.end_norms!r} (instance, or fixed with slim ends)")
        if self.padding not in ("reflect", "zeros"):
            raise ValueError(f"compact config: padding {self.padding!r} (reflect or zeros)")


class TuckerConv(nn.Module):
    """A kxk conv as 1x1 (cin -> rin), kxk core (rin -> rout, reflection- or zero-padded), 1x1 (rout -> cout).

    ``upsample`` puts a nearest x2 upsampling before the core: it commutes with the first
    1x1, so the projection runs at the low resolution.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        rin: int,
        rout: int,
        upsample: bool = False,
        padding: str = "reflect",
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad = kernel // 2 if padding == "reflect" else 0  # zeros: the core conv pads itself
        self.project = nn.Conv2d(cin, rin, 1, bias=False)
        self.core = nn.Conv2d(rin, rout, kernel, stride, padding=kernel // 2 - self.pad, bias=False)
        self.expand = nn.Conv2d(rout, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self._core(x))

    def _core(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.core(F.pad(x, (self.pad,) * 4, mode="reflect") if self.pad else x)

    def forward_normed(
        self, x: torch.Tensor, norm: nn.InstanceNorm2d, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``norm(self(x)) + residual`` with the instance norm folded into the last 1x1 conv.

        The wide output's per-channel mean and variance follow exactly from the narrow core
        output's mean and covariance (y = Wz + b: mean Wm + b, variance diag(W C Wᵀ)), so
        no pass over the wide tensor is spent normalising it: on a CPU that pass cost as
        much as the convolutions around it. Same result as the plain path (test).
        """
        z = self._core(x)
        n, r, h, w = z.shape
        flat = z.reshape(n, r, h * w)
        mean = flat.float().mean(-1, keepdim=True)
        centred = flat - mean.to(flat.dtype)
        cov = centred.float() @ centred.float().transpose(1, 2) / (h * w)
        weight = self.expand.weight.float().reshape(1, -1, r)
        var = ((weight @ cov) * weight).sum(-1)
        scale = norm.weight.float() * torch.rsqrt(var + norm.eps)
        scaled = torch.cat((scale.unsqueeze(-1) * weight, norm.bias.float().expand_as(scale).unsqueeze(-1)), -1)
        ones = torch.ones(n, 1, h * w, dtype=flat.dtype, device=flat.device)
        augmented = torch.cat((centred, ones), 1)
        scaled = scaled.to(flat.dtype)
        if residual is None:
            out = torch.bmm(scaled, augmented)
        else:
            out = torch.baddbmm(residual.reshape(n, -1, h * w), scaled, augmented)
        return out.reshape(n, -1, h, w)

    @torch.no_grad()
    def init_from(self, conv: nn.Conv2d) -> None:
        """Higher-order SVD of ``conv``'s kernel: exact when the ranks are full. A factor whose
        outer side differs from ``conv``'s (a slim student's first projection, last expansion)
        keeps its own initialisation: it is learned, the core stays the teacher's."""
        w = conv.weight.float()
        cout, cin = w.shape[:2]
        rin, rout = self.project.out_channels, self.core.out_channels
        u_out = torch.linalg.svd(w.reshape(cout, -1), full_matrices=False)[0][:, :rout]
        u_in = torch.linalg.svd(w.transpose(0, 1).reshape(cin, -1), full_matrices=False)[0][:, :rin]
        self.core.weight.copy_(torch.einsum("oikl,or,is->rskl", w, u_out, u_in))
        if self.project.in_channels == cin:
            self.project.weight.copy_(u_in.t().reshape(rin, cin, 1, 1))
        if self.expand.out_channels == cout:
            self.expand.weight.copy_(u_out.reshape(cout, rout, 1, 1))
            self.expand.bias.copy_(conv.bias)


@torch.no_grad()
def fold_fixed_norm(conv: nn.Conv2d, norm: nn.InstanceNorm2d, mean: torch.Tensor, var: torch.Tensor) -> None:
    """Make ``conv`` compute ``norm(conv(x))`` with the norm's input statistics fixed at
    (``mean``, ``var``) per channel instead of measured per picture."""
    scale = norm.weight * torch.rsqrt(var + norm.eps)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    conv.bias.copy_(scale * (conv.bias - mean) + norm.bias)


def conv(cin: int, cout: int, kernel: int, padding: str = "reflect") -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2, padding_mode=padding)


class CompactResidual(nn.Module):
    """The teacher's residual block, factorised. ``normalized=False``: its two instance norms
    are replaced by fixed per-channel statistics of the teacher's (folded into the convs by
    ``fix_norms``), which costs no pass over the wide tensor at all."""

    def __init__(self, rank: int, normalized: bool = True, padding: str = "reflect") -> None:
        super().__init__()
        #: Fold the norms into the last 1x1 convs at inference (``TuckerConv.forward_normed``).
        self.fold_norms = True
        self.normalized = normalized
        self.conv1 = TuckerConv(128, 128, 3, 1, rank, rank, padding=padding)
        self.conv2 = TuckerConv(128, 128, 3, 1, rank, rank, padding=padding)
        if normalized:
            self.in1 = nn.InstanceNorm2d(128, affine=True)
            self.in2 = nn.InstanceNorm2d(128, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.normalized:
            return self.conv2(F.relu(self.conv1(x))) + x
        if self.training or not self.fold_norms:
            return self.in2(self.conv2(F.relu(self.in1(self.conv1(x))))) + x
        y = F.relu(self.conv1.forward_normed(x, self.in1))
        return self.conv2.forward_normed(y, self.in2, residual=x)

    @torch.no_grad()
    def fix_norms(self, norms: tuple[nn.InstanceNorm2d, nn.InstanceNorm2d], stats: list[tuple]) -> None:
        """Fold ``norms`` (the teacher's), with each one's input statistics fixed at ``stats``
        ((mean, var) per channel), into the two convs' last 1x1 factors."""
        for conv, norm, (mean, var) in zip((self.conv1, self.conv2), norms, stats):
            fold_fixed_norm(conv.expand, norm, mean, var)


class CompactStyleNet(nn.Module):
    """See the module docstring. ``features`` exposes the two hint points used in training."""

    #: No size-dependent Python steps: a traced conversion (OpenVINO) holds at every size.
    converts_at_any_size = True
    #: Fold the instance norms into the 1x1 convs before them at inference: in torch eager on a
    #: CPU that saves a pass over each wide tensor; a graph runtime fuses plain norms better
    #: (OpenVINO bf16, 640x480, 2 threads: 52 ms folded, 31 ms plain), see ``graph_form``.
    fold_norms = True

    def __init__(self, config: CompactConfig | None = None) -> None:
        super().__init__()
        self.config = config or CompactConfig()
        self.config.check()
        r, w, ends, pad = self.config.rank, self.config.width, self.config.ends, self.config.padding
        normed_ends = self.config.end_norms == "instance"
        self.enc1 = conv(12, w, 5 if ends == "full" else 3, pad)
        if normed_ends:
            self.enc_norm = nn.InstanceNorm2d(w, affine=True)
        if ends != "slim":
            self.enc2 = nn.Conv2d(w, 64, 1) if ends == "light" else conv(w, 64, 3, pad)
            self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = TuckerConv(w if ends == "slim" else 64, 128, 3, 2, r // 2, r, padding=pad)
        if normed_ends:
            self.in3 = nn.InstanceNorm2d(128, affine=True)
        blocks_normed = self.config.block_norms == "instance"
        self.res = nn.Sequential(*(CompactResidual(r, blocks_normed, pad) for _ in range(5)))
        if ends == "slim":
            self.deconv1 = TuckerConv(128, w, 3, 1, r, min(r, 64), upsample=True, padding=pad)
        else:
            self.deconv1 = TuckerConv(128, 64, 3, 1, r, min(r, 64), upsample=True, padding=pad)
            self.in4 = nn.InstanceNorm2d(64, affine=True)
            self.dec1 = nn.Conv2d(64, w, 1) if ends == "light" else conv(64, w, 3, pad)
        if normed_ends:
            self.dec_norm = nn.InstanceNorm2d(w, affine=True)
        self.dec2 = conv(w, w, 3, pad)
        self.dec3 = conv(w, 12, 3, pad)

    @property
    def hint_points(self) -> tuple[int, int]:
        """Indices in ``teacher_activations`` of what ``encode`` and ``middle`` return: the
        teacher's in2 and in4 features, or (slim) the residual stack's input and output."""
        return (1, 6) if self.config.ends == "slim" else (0, 7)

    def fresh_parameter_names(self) -> list[str]:
        """Parameters that start untrained (the rest start as the teacher's own layers)."""
        fresh = ("enc", "dec", "conv3.project", "deconv1.expand") if self.config.ends == "slim" else ("enc", "dec")
        return [n for n, _ in self.named_parameters() if n.startswith(fresh)]

    def _folded(self) -> bool:
        return not self.training and self.fold_norms

    def _normed_ends(self) -> bool:
        return self.config.end_norms == "instance"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB -> the features at ``hint_points[0]`` (half resolution, before the ReLU;
        slim: the residual stack's input, quarter resolution)."""
        y = self.enc1(F.pixel_unshuffle(x, 2))
        y = F.relu(self.enc_norm(y) if self._normed_ends() else y)
        if self.config.ends != "slim":
            return self.in2(self.enc2(y))
        if not self._normed_ends():
            return F.relu(self.conv3(y))
        if self._folded():
            return F.relu(self.conv3.forward_normed(y, self.in3))
        return F.relu(self.in3(self.conv3(y)))

    def middle_blocks(self) -> list:
        """The middle as maps between consecutive teacher activations (see ``teacher_activations``),
        from ``hint_points[0]`` to ``hint_points[1]``."""
        if self.config.ends == "slim":
            return list(self.res)
        return [
            lambda h2: F.relu(self.in3(self.conv3(F.relu(h2)))),
            *self.res,
            lambda y: self.in4(self.deconv1(y)),
        ]

    def middle(self, h: torch.Tensor) -> torch.Tensor:
        """Features at ``hint_points[0]`` -> at ``hint_points[1]`` (the factorised teacher layers)."""
        if self.config.ends == "slim":
            return self.res(h)
        if not self._folded():
            y = F.relu(self.in3(self.conv3(F.relu(h))))
            return self.in4(self.deconv1(self.res(y)))
        y = F.relu(self.conv3.forward_normed(F.relu(h), self.in3))
        return self.deconv1.forward_normed(self.res(y), self.in4)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Features at ``hint_points[1]`` -> [0, 1] RGB (twice their resolution; slim: four times)."""
        if self.config.ends != "slim":
            y = self.dec_norm(self.dec1(F.relu(h)))
        elif not self._normed_ends():
            y = self.deconv1(h)
        elif self._folded():
            y = self.deconv1.forward_normed(h, self.dec_norm)
        else:
            y = self.dec_norm(self.deconv1(h))
        y = self.dec2(F.relu(y))
        return F.pixel_shuffle(self.dec3(F.relu(y)), 2)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(``encode`` output, ``middle`` output, RGB) for [0, 1] input."""
        h2 = self.encode(x)
        h4 = self.middle(h2)
        return h2, h4, self.decode(h4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[2]

    def graph_form(self) -> CompactStyleNet:
        """A copy computing the same function in the form graph runtimes (OpenVINO) run fastest:
        plain instance norms, which they fuse, instead of the folded ones eager torch prefers."""
        net = copy.deepcopy(self)
        for module in net.modules():
            if hasattr(module, "fold_norms"):
                module.fold_norms = False
        return net

    @torch.no_grad()
    def fix_end_norms(self, x: torch.Tensor) -> CompactStyleNet:
        """A copy of this slim student whose encoder, stride-2 and decoder norms are fixed at
        their input statistics over ``x`` ([0, 1] RGB views, averaged over them) and folded
        into the convs before them (``end_norms="fixed"``); the same function on average."""
        if self.config.ends != "slim" or not self._normed_ends():
            raise ValueError(f"fix_end_norms: needs a slim student with instance end norms, not {self.config}")
        names = list(self._end_norm_convs())
        stats = norm_input_statistics(self.graph_form().eval(), names, x)
        net = CompactStyleNet(replace(self.config, end_norms="fixed"))
        net.load_state_dict({k: v for k, v in self.state_dict().items() if k.split(".")[0] not in names})
        for name, conv in net._end_norm_convs().items():
            fold_fixed_norm(conv, getattr(self, name), *stats[name])
        return net.train(self.training)

    def _end_norm_convs(self) -> dict[str, nn.Conv2d]:
        """The slim form's end norms by name, each with the conv whose output it normalises."""
        return {"enc_norm": self.enc1, "in3": self.conv3.expand, "dec_norm": self.deconv1.expand}

    @classmethod
    @torch.no_grad()
    def from_teacher(
        cls,
        teacher: nn.Module,
        config: CompactConfig | None = None,
        block_stats: list | None = None,
        in3_stats: tuple | None = None,
    ) -> CompactStyleNet:
        """A compact network whose middle is the teacher's, factorised; ends untrained.
        ``block_stats`` (``teacher_block_statistics``): what fixed block norms are fixed at;
        ``in3_stats`` (``teacher_in3_statistics``): the same for fixed end norms' stride-2 conv."""
        net = cls(config)
        if net.config.block_norms == "fixed" and block_stats is None:
            raise ValueError("fixed block norms need the teacher's block statistics (teacher_block_statistics)")
        if net.config.end_norms == "fixed" and in3_stats is None:
            raise ValueError("fixed end norms need the teacher's in3 statistics (teacher_in3_statistics)")
        net.conv3.init_from(teacher.conv3.conv2d)
        net.deconv1.init_from(teacher.deconv1.conv2d)
        for i, (ours, theirs) in enumerate(zip(net.res, teacher_blocks(teacher))):
            ours.conv1.init_from(theirs.conv1.conv2d)
            ours.conv2.init_from(theirs.conv2.conv2d)
            if ours.normalized:
                ours.in1.load_state_dict(theirs.in1.state_dict())
                ours.in2.load_state_dict(theirs.in2.state_dict())
            else:
                ours.fix_norms((theirs.in1, theirs.in2), block_stats[i])
        for name in ("in2", "in3", "in4"):
            if hasattr(net, name):
                getattr(net, name).load_state_dict(getattr(teacher, name).state_dict())
        if net.config.end_norms == "fixed":
            fold_fixed_norm(net.conv3.expand, teacher.in3, *in3_stats)
        return net


@torch.no_grad()
def norm_input_statistics(
    model: nn.Module, names: list[str], x: torch.Tensor, run=None
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (mean, variance) per channel of what ``model``'s norm ``name`` sees, each averaged
    over the pictures of ``x`` (biased variance, as instance norms use); ``run`` feeds ``x``."""
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(name):
        def record(_module, inputs, _output):
            y = inputs[0].float()
            seen[name] = (y.mean((2, 3)).mean(0), y.var((2, 3), correction=0).mean(0))

        return record

    handles = [model.get_submodule(name).register_forward_hook(hook(name)) for name in names]
    try:
        (run or model)(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def teacher_blocks(teacher: nn.Module) -> list[nn.Module]:
    return [teacher.res1, teacher.res2, teacher.res3, teacher.res4, teacher.res5]


@torch.no_grad()
def teacher_block_statistics(teacher: nn.Module, x: torch.Tensor) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Per residual block, per norm: the (mean, variance) per channel of what the teacher's
    instance norm sees, each averaged over the pictures of ``x`` ([0, 1] RGB)."""
    names = [(f"res{i}.in1", f"res{i}.in2") for i in range(1, 6)]
    seen = norm_input_statistics(teacher, [n for pair in names for n in pair], x, lambda x: teacher(x * 255))
    return [[seen[name] for name in pair] for pair in names]


def teacher_in3_statistics(teacher: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, variance) per channel of what the teacher's in3 norm sees, averaged over ``x``."""
    return norm_input_statistics(teacher, ["in3"], x, lambda x: teacher(x * 255))["in3"]


def teacher_features(teacher: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The teacher's (in2 output, in4 output, RGB) for [0, 1] input: the compact net's targets."""
    acts = teacher_activations(teacher, x)
    return acts[0], acts[-2], acts[-1]


def teacher_steps(teacher: nn.Module) -> list:
    """The teacher as maps between consecutive points of ``teacher_activations``: [0, 1] RGB ->
    in2 output -> the residual stack's input -> each block's output -> in4 output -> RGB."""
    t = teacher
    return [
        lambda x: t.in2(t.conv2(F.relu(t.in1(t.conv1(x * 255))))),
        lambda h2: F.relu(t.in3(t.conv3(F.relu(h2)))),
        *teacher_blocks(t),
        lambda y: t.in4(t.deconv1(y)),
        lambda h4: t.deconv3(F.relu(t.in5(t.deconv2(F.relu(h4))))) / 255,
    ]


def teacher_activations(teacher: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Every point where the compact net meets the teacher, for [0, 1] input: in2 output,
    the input of the residual stack, each residual block's output, in4 output, RGB in [0, 1]."""
    acts = []
    for step in teacher_steps(teacher):
        x = step(x)
        acts.append(x)
    return acts


def is_compact_file(path) -> bool:
    """True for a safetensors file written by ``models.train.distill_compact``."""
    from .weights import read_metadata

    return read_metadata(path).get("format") == COMPACT_FORMAT


def read_compact_record(path) -> dict:
    """The training record (teacher, steps, held-out score, MACs) stored in the file's metadata."""
    import json

    from .weights import read_metadata

    return json.loads(read_metadata(path).get("record", "{}"))


def load_compact(path) -> CompactStyleNet:
    """A CompactStyleNet from a distilled safetensors file (eval mode, on the CPU)."""
    from .weights import WeightsError, load_tensors, match_state_dict, read_metadata

    try:
        config = CompactConfig.from_metadata(read_metadata(path))
        net = CompactStyleNet(config)
    except ValueError as exc:
        raise WeightsError(f"{path}: bad compact style config ({exc})") from None
    match_state_dict(
        net, load_tensors(path, expected="a livefx compact style"), path, expected="a livefx compact style"
    )
    return net.eval()
