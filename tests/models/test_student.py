import pytest
import torch
from safetensors.torch import save_file

from livefx.models.errors import WeightsError
from livefx.models.student import STUDENT_FORMAT, StudentConfig, StudentNet, count_macs, is_student_file
from livefx.models.stylize import StyleStage, TransformerNet, load_style


def trained_like(seed: int = 0) -> StudentNet:
    """A student whose batch norms hold non-trivial statistics, as after training."""
    torch.manual_seed(seed)
    net = StudentNet()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_at_least_8x_fewer_macs_than_the_teacher():
    student, teacher = count_macs(StudentNet(), 480, 640), count_macs(TransformerNet(), 480, 640)
    assert teacher / student >= 8


def test_fusing_batch_norms_keeps_the_output():
    net = trained_like()
    x = torch.rand(1, 3, 60, 84)
    with torch.no_grad():
        before = net(x)
        after = net.fuse()(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert torch.allclose(before, after, atol=1e-5)


@pytest.mark.parametrize("h, w", [(48, 64), (47, 63), (240, 320)])
def test_forward_shape(h, w):
    with torch.no_grad():
        assert StudentNet().eval()(torch.rand(1, 3, h, w)).shape == (1, 3, h, w)


def test_saved_student_loads_as_a_style(tmp_path):
    net = trained_like().fuse()
    path = tmp_path / "s.safetensors"
    save_file(net.state_dict(), str(path), metadata={"format": STUDENT_FORMAT, **StudentConfig().to_metadata()})
    assert is_student_file(path)
    loaded, value_range = load_style(path)
    assert value_range == 1.0
    stage = StyleStage(loaded, torch.device("cpu"), torch.float32, "s", value_range)
    x = torch.rand(1, 3, 50, 70)
    y = stage(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    with torch.no_grad():
        assert torch.allclose(y, net(x).clamp(0, 1), atol=1e-5)


def test_student_with_wrong_shapes_is_refused(tmp_path):
    net = StudentNet(StudentConfig(width=32)).fuse()
    path = tmp_path / "s.safetensors"
    save_file(net.state_dict(), str(path), metadata={"format": STUDENT_FORMAT, "width": "48", "blocks": "5"})
    with pytest.raises(WeightsError, match="has shape"):
        load_style(path)
