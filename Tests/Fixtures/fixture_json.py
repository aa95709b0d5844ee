"""What the fixture generators share: PyTorch set up for reproducible float64 reference values, and the JSON form of
a tensor that `TestSupport.Fixture` reads ({"shape": [...], "data": [...]}, row-major)."""
import torch


def setup(seed):
    """Seeds PyTorch, runs it on one thread in float64."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)


def t(x):
    """A tensor (or anything torch.as_tensor takes) as a fixture entry."""
    x = torch.as_tensor(x).detach().double().contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}
